"""The smoke variant shared by the image presets: a 2,000-image subset, 4 epochs, one generation of 2."""

IMAGE_SMOKE = dict(
    train_subset=2000, epochs=4, decay_start=3, init_epoch=2, population=2, generations=1, seeds=1, reward_epochs=2
)
