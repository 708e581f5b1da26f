"""CIFAR-100, 50% symmetric noise, the 6-conv BatchNorm CNN pair of Co-teaching+/S2E, 200 epochs, NG search.

    python -m memjax.launch --dataset cifar100               # GPU; tfds prepares the data on first use
    python -m memjax.launch --dataset cifar100 --smoke

Data: tfds `cifar100` (prepared on first use when online; offline, prepare it elsewhere with `tfds build
cifar100 --file_format array_record` and pass --data-dir). The learning rate decays from epoch 80, as in
the Co-teaching+ and S2E code with this CNN (Co-teaching's own code, with its 9-layer CNN, uses 100).
"""

from memjax.configs.smoke import image_preset


def get_config(smoke: bool = False):
    return image_preset("cifar100", "cnn", init_epoch=5, smoke=smoke)
