"""CIFAR-100, 50% symmetric noise, the 6-conv BatchNorm CNN pair of Co-teaching+/S2E, 200 epochs, NG search.

    python -m memjax.launch --dataset cifar100               # GPU; tfds prepares the data on first use
    python -m memjax.launch --dataset cifar100 --smoke

Data: tfds `cifar100` (prepared on first use when online; offline, prepare it elsewhere with `tfds build
cifar100 --file_format array_record` and pass --data-dir). The learning rate decays from epoch 80, as in
the Co-teaching+ and S2E code with this CNN (Co-teaching's own code, with its 9-layer CNN, uses 100).
"""

from memjax.config import Config
from memjax.configs.smoke import IMAGE_SMOKE


def get_config(smoke: bool = False) -> Config:
    config = Config(
        dataset="cifar100",
        model="cnn",
        noise="symmetric",
        noise_rate=0.5,
        epochs=200,
        decay_start=80,
        init_epoch=5,
        population=8,
        generations=10,
        seeds=3,
    )
    if smoke:
        config = config.replace(**IMAGE_SMOKE)
    return config
