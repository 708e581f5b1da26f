"""scikit-learn's embedded 8×8 digits, 50% symmetric noise, MLP pair, S2E search with NG.

    python -m memjax.launch                        # this preset, end to end (times: README, command (1))
    python -m memjax.launch --smoke                # its quick variant

Expected (2-core CPU, seed 0, measured): final test accuracy over 3 seeds, searched R(t) 93.97 ± 0.26
against Co-teaching's R(t) 92.58 ± 0.59 (smoke: 91.5 vs 93.5 — two generations find little).
"""

from memjax.config import Config


def get_config(smoke: bool = False) -> Config:
    config = Config(
        dataset="digits",
        model="mlp",
        noise="symmetric",
        noise_rate=0.5,
        epochs=60,
        batch_size=32,
        decay_start=40,
        method_options="coteaching_plus.init_epoch=0",
        population=8,
        generations=6,
        reward_epochs=5,
        seeds=3,
    )
    if smoke:
        config = config.replace(epochs=20, decay_start=15, population=4, generations=2, seeds=2)
    return config
