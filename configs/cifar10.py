"""CIFAR-10, 50% symmetric noise, the LeNet-like CNN pair of Co-teaching+/S2E, 200 epochs, S2E search (NG).

    python -m memjax.launch --dataset cifar10                # the paper protocol (GPU needed in practice)
    python -m memjax.launch --dataset cifar10_jpeg --smoke   # ~1.5 min on a 2-core CPU (shared file)

Smoke (measured): test accuracy ~0.16-0.19 after 4 epochs on 2,000 noisy images — it checks the
plumbing, not the method. The full protocol is untested here (no GPU was available).

Data: `cifar10` is the standard data set through tfds (prepared on first use); `cifar10_jpeg` the shared copy
decoded from JPEG re-encodings ($MEMJAX_DATA_DIR/cifar10/cifar10_jpeg.npz: same size, slightly different pixels).
"""

from memjax.configs.smoke import image_preset


def get_config(smoke: bool = False):
    return image_preset("cifar10", "cnn_small", init_epoch=20, smoke=smoke)
