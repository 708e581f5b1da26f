"""The trained networks of a run, kept: :func:`save_networks` writes them into the run folder,
:func:`load_run` brings them back as a :class:`SavedRun` whose ``predict(inputs)`` gives class
probabilities.

Two files, written atomically by process 0 after the retraining (so ``--resume`` writes them too):

* ``networks.msgpack``: flax's serialization (msgpack) of ``{"params", "batch_stats"}`` of every retrained
  run, stacked on leading axes (run, network). flax.serialization rather than orbax: orbax-checkpoint comes
  with flax, so the install is the same size, but its save is a collective of every process and writes a
  folder of files; one file written by process 0 with :func:`memjax.io.write_atomic` is what the rest of
  the run folder does.
* ``networks.json``: what rebuilds and feeds them: model name and settings, classes and their names, the
  input shape and dtype, the preprocessing (uint8 images scaled to [0, 1] in the network; a CSV's columns,
  mean and standard deviation; the image size own images are resized to), and each run's schedule label and
  seed; ``primary`` is the label whose runs ``predict`` averages by default (the searched R(t), or the method).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from memjax import io, precision
from memjax.data.sources.table import standardise
from memjax.engine.evaluation import predict as predict_networks
from memjax.engine.state import TrainState
from memjax.models import get_model
from memjax.version import __version__

WEIGHTS, SPEC = "networks.msgpack", "networks.json"


class SavedRunError(ValueError):
    """A run folder whose networks cannot be loaded, or inputs they cannot take: one line naming the fix."""


def spec_of(config, data, runs: list[dict], primary: str) -> dict:
    """``networks.json`` of ``runs`` (pipeline.retrain's, with ``networks``) trained by ``config`` on ``data``."""
    features = data.features
    return {
        "memjax": __version__,
        "model": config.model,
        "num_classes": int(data.num_classes),
        "class_names": [str(c) for c in (range(data.num_classes) if data.class_names is None else data.class_names)],
        "input_shape": list(data.input_shape),
        "input_dtype": str(data.train_images.dtype),
        "compute_dtype": config.compute_dtype,
        "conv_impl": config.conv_impl,
        "num_nets": int(jax.tree.leaves(runs[0]["networks"]["params"])[0].shape[0]),
        "dataset": config.dataset,
        "image_size": config.image_size,
        "label_column": config.label_column,
        "features": None if features is None else {k: np.asarray(v).tolist() for k, v in features.items()},
        "runs": [{"label": r["label"], "seed": int(r["seed"])} for r in runs],
        "primary": primary,
    }


def save_networks(run_dir: Path, config, data, runs: list[dict], primary: str) -> None:
    """Write ``networks.msgpack`` and ``networks.json`` (module docstring) for ``runs``, atomically."""
    stacked = jax.tree.map(lambda *a: np.stack(a), *[r["networks"] for r in runs])
    blob = flax.serialization.msgpack_serialize(jax.tree.map(np.asarray, stacked))
    io.write_atomic(Path(run_dir) / WEIGHTS, lambda f: f.write(blob))
    io.write_json(Path(run_dir) / SPEC, spec_of(config, data, runs, primary))


@dataclasses.dataclass(frozen=True, eq=False)
class SavedRun:
    """A run's saved networks, ready to predict (:func:`load_run`).

    Attributes:
        path: the run folder.
        model: the flax module.
        variables: ``{"params", "batch_stats"}``, leading axes run × network.
        spec: ``networks.json``: model, classes, input shape, preprocessing, the runs (schedule label, seed).
    """

    path: Path
    model: object
    variables: dict
    spec: dict

    @property
    def class_names(self) -> list[str]:
        return self.spec["class_names"]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.spec["input_shape"])

    def runs(self, label: str | None = None, seed: int | None = None) -> list[int]:
        """Indices of the saved runs of a schedule and seed.

        Args:
            label: the schedule's label; default the run's primary one (the searched R(t), or its method's).
            seed: one seed; default all.

        Returns:
            The run indices.

        Raises:
            SavedRunError: no saved run matches.
        """
        label = self.spec["primary"] if label is None else label
        chosen = [
            i for i, r in enumerate(self.spec["runs"]) if r["label"] == label and (seed is None or r["seed"] == seed)
        ]
        if not chosen:
            known = ", ".join(f"{r['label']} seed {r['seed']}" for r in self.spec["runs"])
            raise SavedRunError(f"{self.path} has no saved run {label!r}{f' seed {seed}' if seed is not None else ''}"
                                f" (it has {known})")  # fmt: skip
        return chosen

    def prepare(self, inputs: np.ndarray) -> np.ndarray:
        """Inputs as the networks take them.

        Args:
            inputs: uint8 images (n, H, W[, C]) of the training shape, or a CSV's raw feature rows (n, F).

        Returns:
            The images, or the rows standardised by the training part's mean and std.

        Raises:
            SavedRunError: another image shape or feature count.
        """
        inputs = np.asarray(inputs)
        features = self.spec["features"]
        if features is not None:
            columns = features["feature_names"]
            if inputs.ndim != 2 or inputs.shape[1] != len(columns):
                raise SavedRunError(f"the networks take rows of {len(columns)} features ({', '.join(columns)}), "
                                    f"got an array of shape {inputs.shape}")  # fmt: skip
            return standardise(inputs, np.asarray(features["feature_mean"]), np.asarray(features["feature_std"]))
        images = inputs[..., None] if inputs.ndim == 3 else inputs
        if images.ndim != 4 or tuple(images.shape[1:]) != self.input_shape:
            raise SavedRunError(f"the networks take images of shape {self.input_shape} (H, W, C), got "
                                f"{tuple(images.shape[1:])}")  # fmt: skip
        if images.dtype != np.uint8:
            raise SavedRunError(f"the networks take uint8 images (0..255), got {images.dtype}")
        return images

    def predict(self, inputs, label: str | None = None, seed: int | None = None, chunk: int = 1000) -> np.ndarray:
        """Class probabilities: each chosen run's networks' softmax averaged, then the runs averaged.

        The run's label issues average them the same way.

        Args:
            inputs: as :meth:`prepare` takes them.
            label: the schedule (:meth:`runs`); default the primary one.
            seed: one seed; default all.
            chunk: inputs per evaluation batch.

        Returns:
            (n, C) probabilities.
        """
        per_run = self.probabilities(inputs, chunk).mean(1)  # (runs, n, C)
        return per_run[self.runs(label, seed)].mean(0)

    def probabilities(self, inputs, chunk: int = 1000) -> np.ndarray:
        """Every saved network's softmax probabilities, in evaluation mode (running BatchNorm statistics).

        All runs go in one vmapped program as in the run itself, so that they equal the run's own final-epoch
        predictions bit for bit on CPU.

        Args:
            inputs: as :meth:`prepare` takes them.
            chunk: inputs per evaluation batch.

        Returns:
            (runs, networks, n, C) probabilities.
        """
        x = jnp.asarray(self.prepare(inputs))
        nets = _Networks(self.model, self.spec["num_nets"])
        return np.asarray(_all_runs(nets, self.variables, x, min(chunk, max(len(x), 1))))


@dataclasses.dataclass(frozen=True)
class _Networks:
    """What :func:`memjax.engine.evaluation.predict` reads of an engine: the module and the network count."""

    model: object
    num_nets: int


@functools.partial(jax.jit, static_argnums=(0, 3))
def _all_runs(nets: _Networks, variables: dict, x, chunk: int):
    def one(v):
        return predict_networks(nets, TrainState(v["params"], v["batch_stats"], ()), x, chunk)

    return jax.vmap(one)(variables)


def load_run(path) -> SavedRun:
    """The saved networks of a run folder (also ``memjax.load_run``).

    Args:
        path: a run folder holding ``networks.msgpack`` and ``networks.json`` (:func:`save_networks`).

    Returns:
        A :class:`SavedRun`.

    Raises:
        SavedRunError: there is no such run folder, it has no networks (an unfinished run, or one of memjax
            0.1.0 or older: ``--resume`` it to retrain and save them), or they do not load (each damaged
            file named).
    """
    path = Path(path)
    if not path.is_dir():
        raise SavedRunError(f"no run folder {path}: pass the folder of a memjax run (runs/NAME)")
    if not ((path / SPEC).is_file() and (path / WEIGHTS).is_file()) and not (path / "config.json").is_file():
        raise SavedRunError(f"{path} is not a memjax run folder (no config.json, no {SPEC}): pass a run's folder")
    if not (path / SPEC).is_file() or not (path / WEIGHTS).is_file():
        raise SavedRunError(
            f"{path} holds no saved networks ({SPEC}, {WEIGHTS}): the run did not finish, or "
            f"is of memjax 0.1.0 or older; finish it: python -m memjax.launch --resume {path}"
        )
    fix = f"retrain with python -m memjax.launch --resume {path}"
    try:
        spec = io.read_json(path / SPEC, fix)
    except io.DamagedFile as err:
        raise SavedRunError(str(err)) from err
    try:
        variables = flax.serialization.msgpack_restore((path / WEIGHTS).read_bytes())
    except Exception as err:  # msgpack raises several types for a damaged file
        raise SavedRunError(f"{path / WEIGHTS} is damaged ({type(err).__name__}): {fix}") from err
    model = get_model(
        spec["model"],
        spec["num_classes"],
        tuple(spec["input_shape"]),
        precision.compute_dtype(spec["compute_dtype"]),
        conv_impl=spec["conv_impl"],
    )
    variables = {"params": variables["params"], "batch_stats": variables.get("batch_stats") or {}}
    return SavedRun(path, model, jax.tree.map(jnp.asarray, variables), spec)
