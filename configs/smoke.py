"""The image presets' one body (CIFAR-10, CIFAR-100) and the smoke variant they share: a 2,000-image subset,
4 epochs, one generation of 2."""

from memjax.config import Config

IMAGE_SMOKE = dict(train_subset=2000, epochs=4, decay_start=3, population=2, generations=1, seeds=1, reward_epochs=2)
SMOKE_INIT_EPOCH = 2  # Co-teaching+'s plain Co-teaching epochs in the 4-epoch smoke run


def image_preset(dataset: str, model: str, init_epoch: int, smoke: bool) -> Config:
    """50% symmetric noise, 200 epochs (decay from 80), the NG search with 8 × 10 candidates, 3 seeds, and
    Co-teaching+'s ``init_epoch`` of the data set (its main.py); ``smoke``: :data:`IMAGE_SMOKE`."""
    config = Config(
        dataset=dataset,
        model=model,
        noise="symmetric",
        noise_rate=0.5,
        epochs=200,
        decay_start=80,
        method_options=f"coteaching_plus.init_epoch={SMOKE_INIT_EPOCH if smoke else init_epoch}",
        population=8,
        generations=10,
        seeds=3,
    )
    return config.replace(**IMAGE_SMOKE) if smoke else config
