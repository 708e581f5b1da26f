"""memjax: learning with noisy labels in JAX (S2E, Co-teaching, Co-teaching+), vmapped over candidates."""

__version__ = "0.1.0"
