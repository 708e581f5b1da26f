"""CIFAR-100, 50% symmetric noise, the 6-conv BatchNorm CNN pair of Co-teaching+/S2E, 200 epochs, NG search.

    python -m memjax.launch --dataset cifar100 --data-dir ~/tensorflow_datasets   # GPU; tfds data prepared
    python -m memjax.launch --dataset cifar100 --smoke

Data: tfds `cifar100` only (prepare it once with `tfds build cifar100`); Co-teaching decays from epoch 100.
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
        decay_start=100,
        init_epoch=5,
        population=8,
        generations=10,
        seeds=3,
    )
    if smoke:
        config = config.replace(**IMAGE_SMOKE)
    return config
