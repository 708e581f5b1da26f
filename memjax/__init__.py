"""memjax: learning with noisy labels in JAX (S2E, Co-teaching, Co-teaching+), vmapped over candidates."""

from memjax.version import __version__

__all__ = ["SavedRun", "__version__", "load_run"]


def __getattr__(name: str):
    """``memjax.load_run`` (:func:`memjax.saved.load_run`), imported on first use so ``import memjax`` stays light."""
    if name in ("load_run", "SavedRun"):
        from memjax import saved

        return getattr(saved, name)
    raise AttributeError(f"module 'memjax' has no attribute {name!r}")
