"""Your own data (``--dataset folder:PATH`` or ``csv:PATH --label-column NAME``): labels taken as given.

    python -m memjax.launch --dataset folder:my_images --image-size 32 --method coteaching
    python -m memjax.launch --dataset csv:table.csv --label-column label --method coteaching

No synthetic noise is added (``noise_rate=0``: pass ``--noise-rate`` to inject some and measure how well
the flips are found), and Co-teaching's forget rate is estimated from the data (``forget_rate=auto``);
the S2E search (the default mode) needs no noise rate at all. Small-data settings of the digits preset:
MLP, batch 32, 60 epochs. Every run writes label_issues.csv (see ``memjax.label_issues``).
"""

from memjax.config import Config


def get_config(smoke: bool = False) -> Config:
    config = Config(
        dataset="folder:.",
        model="mlp",
        noise_rate=0.0,
        forget_rate="auto",
        epochs=60,
        batch_size=32,
        decay_start=40,
        init_epoch=0,
        population=8,
        generations=6,
        reward_epochs=5,
        seeds=3,
    )
    if smoke:
        config = config.replace(epochs=20, decay_start=15, population=4, generations=2, seeds=2)
    return config
