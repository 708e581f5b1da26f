"""The PyTorch peer of the benchmark: the same Co-teaching run of a pair as an eager PyTorch loop.

What the reference codes (Co-teaching, Co-teaching+, S2E) do each step, on the same data layout as memjax's
engine: gather a batch of uint8 images by a fresh permutation (drop_last), scale to [0, 1], forward both
networks (``mlp``: 784 → 256 → ReLU → C; ``cnn_small``: the LeNet of :class:`memjax.models.CNNSmall`,
conv6@5×5 → ReLU → max-pool 2 → conv16@5×5 → ReLU → max-pool 2 → 400 → 120 → 84 → C, NCHW as PyTorch
prefers, the images transposed once before timing), per-sample cross-entropy, each network keeps the
⌊R·B⌋ samples its peer ranks smallest, one backward pass, Adam (lr 1e-3, β = (0.9, 0.999), ε = 1e-8) on
both; after every epoch both networks are evaluated on the validation and test splits. Optional: ``torch``
is not a dependency of memjax (``pip install torch``); :func:`available` says whether it can run.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from benchmarks import timing


def available() -> bool:
    return importlib.util.find_spec("torch") is not None


MODELS = ("mlp", "cnn_small")


def _network(torch, model: str, shape, classes: int):
    nn = torch.nn
    if model == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(shape)), 256), nn.ReLU(), nn.Linear(256, classes))
    h, w, c = shape
    side = lambda n: ((n - 4) // 2 - 4) // 2  # two VALID 5×5 convolutions, each followed by a 2×2 pool
    flat = 16 * side(h) * side(w)
    return nn.Sequential(
        nn.Conv2d(c, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(flat, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, classes),
    )  # fmt: skip


def _images(torch, model: str, images):
    """uint8 images in the network's layout: flat rows for the MLP, NCHW for the CNN."""
    x = images.reshape(len(images), -1) if model == "mlp" else np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    return torch.from_numpy(x)


def make_run(data, epochs: int, batch_size: int = 128, keep: float = 0.7, seed: int = 0, model: str = "mlp"):
    """A zero-argument callable that trains a fresh pair of ``model`` for ``epochs`` epochs on ``data`` (a
    ``memjax.data.Dataset``) and returns the last epoch's (validation, test) accuracies of both networks."""
    import torch
    import torch.nn.functional as F

    if model not in MODELS:
        raise ValueError(f"no PyTorch peer for model {model!r}: use one of {', '.join(MODELS)}")
    train_x = _images(torch, model, data.train_images)
    train_y = torch.from_numpy(data.train_labels.astype(np.int64))
    evals = [
        (_images(torch, model, x), torch.from_numpy(y.astype(np.int64)))
        for x, y in ((data.val_images, data.val_labels), (data.test_images, data.test_labels))
    ]
    n_batches = len(train_y) // batch_size
    k = max(1, int(keep * batch_size))

    def accuracy(nets, x, y):
        with torch.no_grad():
            x = x.float() / 255.0
            return [(net(x).argmax(1) == y).float().mean().item() for net in nets]

    def run():
        torch.manual_seed(seed)
        nets = [_network(torch, model, data.train_images.shape[1:], data.num_classes) for _ in range(2)]
        optimizer = torch.optim.Adam([p for net in nets for p in net.parameters()], lr=1e-3, eps=1e-8)
        for _ in range(epochs):
            perm = torch.randperm(len(train_y))
            for b in range(n_batches):
                idx = perm[b * batch_size : (b + 1) * batch_size]
                x, y = train_x[idx].float() / 255.0, train_y[idx]
                loss_a, loss_b = (F.cross_entropy(net(x), y, reduction="none") for net in nets)
                keep_a = torch.argsort(loss_b.detach())[:k]  # each network learns from its peer's small losses
                keep_b = torch.argsort(loss_a.detach())[:k]
                loss = loss_a[keep_a].mean() + loss_b[keep_b].mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            scores = [accuracy(nets, x, y) for x, y in evals]
        return scores

    return run


def measure(data, epochs: int, repeats: int = 3, batch_size: int = 128, model: str = "mlp") -> dict:
    """samples/s of the eager loop (best of ``repeats`` after one warm-up run), in the benchmark's row format;
    torch uses as many threads as this process may use cores (as XLA does)."""
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))

    run = make_run(data, epochs, batch_size, model=model)
    run()
    best, cpu = timing.best_of(run, repeats)
    samples = epochs * (len(data.train_labels) // batch_size) * batch_size
    return {
        "model": f"{model} (PyTorch eager)",
        "dtype": "float32",
        "population": 0,
        "compile_s": 0.0,
        "run_s": round(best, 3),
        "samples_per_s": round(samples / best),
        "samples_per_s_per_candidate": round(samples / best),
        "samples_per_cpu_s": round(samples / cpu),
        "gflops": float("nan"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
