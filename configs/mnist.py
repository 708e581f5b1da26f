"""MNIST, 50% symmetric noise, the Co-teaching+/S2E MLP pair (784-256-10), 200 epochs, S2E search with NG.

    python -m memjax.launch --dataset mnist                 # full MNIST (tfds; GPU recommended: ~4 h CPU)
    python -m memjax.launch --dataset mnist17k --smoke      # the shared 17,435-image subset, quick variant

Data: `mnist` is the full data set through tfds (prepared on first use); `mnist17k` the shared real subset
($MEMJAX_DATA_DIR/mnist/mnist_partial.npz: the first 17,435 training images, the full test set).
"""

from memjax.config import Config


def get_config(smoke: bool = False) -> Config:
    config = Config(
        dataset="mnist",
        model="mlp",
        noise="symmetric",
        noise_rate=0.5,
        epochs=200,
        decay_start=80,
        method_options="coteaching_plus.init_epoch=0",
        population=8,
        generations=10,
        seeds=3,
    )
    if smoke:
        config = config.replace(
            train_subset=4000, epochs=8, decay_start=6, population=4, generations=2, seeds=2, reward_epochs=2
        )
    return config
