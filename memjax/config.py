"""The run configuration: one frozen dataclass, overridable field by field (``Config.replace``).

It imports only :mod:`memjax.options`; it holds values and checks their ranges; every *name* (method and
its options, model, noise kind, search algorithm, convolution implementation, dataset) is checked by the
registry that owns it
(``memjax.pipeline.check`` calls them all). Presets live in ``configs/<dataset>.py`` (installed as
``memjax.configs``); each has ``get_config(smoke)``.
"""

from __future__ import annotations

import dataclasses
import json

from memjax import options

LEGACY = {  # fields before --method-options (config.json of older run folders) → their qualified key
    "init_epoch": "coteaching_plus.init_epoch",
    "co_lambda": "jocor.co_lambda",
    "fc_matrix": "fcorrection.matrix",
    "fc_estimate_epochs": "fcorrection.estimate_epochs",
}
PHASES = {"decay_start": 0, "tk": 1}  # epochs at which a phase of training ends → the smallest value
SEARCH_KEYS = ("generation", "search")  # the scope of the search's common random numbers (memjax.search.driver)
WINDOWS = ("reward_epochs", "tally_epochs")  # averaging windows over the last epochs of a run


def _field(default, help: str):
    """A config field with its one-line help (shown by ``python -m memjax.launch --help``)."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True)
class Config:
    """Every setting of a run, in one frozen dataclass: data and noise, model and training, method, search, outputs.

    Every field is a command-line flag (``--noise-rate 0.45`` sets ``noise_rate``; ``python -m memjax.launch
    --help`` lists them with their help text); the presets (:func:`memjax.configs.get_config`) are instances.
    Change fields with :meth:`replace`; :meth:`validate` checks ranges with a one-line fix.
    """

    # data and noise
    dataset: str = _field(
        "digits",
        "digits | mnist | cifar10 | cifar100 (full, tfds) | mnist17k | cifar10_jpeg (shared .npz) | npz:PATH | "
        "folder:PATH | csv:PATH",
    )
    data_dir: str | None = _field(None, "tfds data_dir or the shared .npz folder (default: $MEMJAX_DATA_DIR)")
    noise: str = _field("symmetric", "label-noise kind (transition matrix) applied to the training labels")
    noise_rate: float = _field(0.5, "share of training labels flipped by the transition matrix, in [0, 1)")
    noise_matrix: str = _field("", "the C×C transition matrix of --noise matrix (.npy or .json, rows sum to 1)")
    noise_seed: int = _field(1, "RandomState seed of the reference corruption procedure")
    val_fraction: float = _field(0.1, "stratified validation split carved from the training set, in [0, 1)")
    clean_val: bool = _field(False, "keep validation labels clean (the paper's protocol) instead of noisy")
    train_subset: int = _field(0, "use only this many training samples (0 = all), for quick runs")
    image_size: int = _field(0, "folder:PATH images are resized to N×N (0 = keep; then all must share one size)")
    label_column: str = _field("", "csv:PATH: the column holding the class; every other column is a feature")
    test_fraction: float = _field(0.2, "own data without a test split: stratified seeded share held out as test")
    # network and optimiser (DESIGN.md §3 protocol)
    model: str = _field("mlp", "network architecture (memjax.models)")
    torch_init: bool = _field(False, "PyTorch default initialisation, for parity with the reference code")
    compute_dtype: str = _field("float32", "float32 | bfloat16 (parameters and optimiser state stay float32)")
    conv_impl: str = _field("auto", "auto | xla | gemm | rows: lax, im2col or row-Toeplitz matmuls (auto: rows on CPU)")
    population_impl: str = _field("vmap", "vmap | map: a device trains K runs batched, or one after another (map: "
                                  "1.3× faster on CPU, the same runs up to rounding)")  # fmt: skip
    epochs: int = _field(200, "training epochs T of every run")
    batch_size: int = _field(128, "mini-batch size B (the last partial batch is dropped)")
    lr: float = _field(1e-3, "Adam learning rate before the decay")
    decay_start: int = _field(80, "lr decays linearly to 0 and Adam β1 drops 0.9 → 0.1 from this epoch")
    eval_batch_size: int = _field(1000, "batch size of validation/test evaluation")
    # sample selection
    method: str = _field("coteaching", "training method (memjax.methods)")
    method_options: str = _field(
        "",
        "the methods' own settings, KEY=VALUE,... for --method or METHOD.KEY=VALUE for any (e.g. co_lambda=0.9 "
        "for jocor; coteaching_plus.init_epoch=5; fcorrection.matrix=T.npy)",
    )
    min_keep: float = _field(0.01, "R(t) is clipped to [min_keep, 1]")
    tk: int = _field(10, "Co-teaching's schedule: full forget rate reached after tk epochs")
    c: float = _field(1.0, "Co-teaching's schedule exponent")
    forget_rate: str = _field("noise_rate", "Co-teaching's τ: noise_rate (--noise-rate), auto (estimated) or a number")
    tally_epochs: int = _field(10, "label issues: each sample's selection is counted over the last epochs")
    issues_at: str = _field(
        "best_fit", "label issues from the epoch of best fit, 2·val acc − train acc (best_fit), or the last (last)"
    )
    flag_rule: str = _field(
        "rate", "label issues: flag the estimated number of wrong labels per class (rate) or score > 1/2 (half)"
    )
    # S2E search
    search: str = _field("ng", "search algorithm of R(t) (memjax.search)")
    population: int = _field(8, "candidates trained at once in one vmapped program (not given: from device memory)")
    generations: int = _field(10, "search generations (the epoch budget is generations × population × epochs)")
    search_options: str = _field("", "the algorithm's own settings as KEY=VALUE,... (e.g. eta=3 for hyperband)")
    reward_epochs: int = _field(5, "reward = validation accuracy averaged over the last epochs")
    reward_networks: str = _field("mean", "mean | max: combine the two networks' validation accuracies")
    search_keys: str = _field(
        "generation", "generation | search: candidates share the training key within each generation, or all search"
    )
    search_test_acc: bool = _field(
        False, "also evaluate every search candidate on the test split each epoch (diagnostics only; slower)"
    )
    seeds: int = _field(3, "retraining seeds for the final R(t)")
    seed: int = _field(0, "seed of the search, the retraining keys and the validation split")

    @classmethod
    def from_dict(cls, fields: dict) -> Config:
        """The config of a ``config.json``, also one written before ``method_options``: its ``LEGACY`` fields
        become ``METHOD.KEY`` method options (a given ``method_options`` wins)."""
        fields = dict(fields)
        old = [(LEGACY[k], fields.pop(k)) for k in list(fields) if k in LEGACY]
        legacy = ",".join(f"{key}={value}" for key, value in old if value != "")
        if legacy:
            fields["method_options"] = options.merge(legacy, fields.get("method_options", ""))
        return cls().replace(**fields)

    def with_epochs(self, epochs: int, given=(), phase_options=()) -> tuple[Config, dict[str, tuple]]:
        """This config (a preset's) trained for ``epochs`` instead, its phase boundaries moved with it.

        Phase boundaries (:data:`PHASES`, and the method options of ``phase_options``) scale with the run,
        ``n → round(n · epochs / self.epochs)`` kept within [their smallest value, ``epochs``]: the 200-epoch
        presets' ``decay_start=80``, ``tk=10`` become 2 and 1 at ``--epochs 5``, so the learning rate still decays
        and R(t) reaches 1 − τ.
        Windows (:data:`WINDOWS`) keep their length, cut to ``epochs`` when longer.

        Args:
            epochs: the new T.
            given: names the user set, which stay.
            phase_options: ``{"METHOD.KEY": smallest}``, the method options counted in epochs: pass
                :func:`memjax.methods.phase_options` (read off the methods' settings; the config knows no method).

        Returns:
            ``(config, changes)``: the new config and ``{name: (before, after)}`` for every value that changed.
        """
        scale = lambda n, low: min(max(int(n * epochs / self.epochs + 0.5), low), epochs)  # noqa: E731
        changes = {k: (getattr(self, k), scale(getattr(self, k), low)) for k, low in PHASES.items()}
        changes |= {k: (getattr(self, k), min(getattr(self, k), epochs)) for k in WINDOWS}
        pairs = dict(options.items(self.method_options, "option"))
        phases = {k: low for k, low in dict(phase_options).items() if k in pairs}
        changes |= {k: (int(pairs[k]), scale(int(pairs[k]), low)) for k, low in phases.items()}
        changes = {k: v for k, v in changes.items() if k not in given and v[0] != v[1]}
        fields = {k: v[1] for k, v in changes.items() if "." not in k}
        opts = options.merge(self.method_options, ",".join(f"{k}={v[1]}" for k, v in changes.items() if "." in k))
        return self.replace(epochs=epochs, method_options=opts, **fields), changes

    def replace(self, **changes) -> Config:
        """A copy with some fields changed.

        Args:
            **changes: field names and their new values.

        Returns:
            The new :class:`Config`.

        Raises:
            ValueError: a name that is not a field.
        """
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"unknown config field(s) {', '.join(unknown)}: see memjax.config.Config")
        return dataclasses.replace(self, **changes)

    def validate(self, *groups: str) -> Config:
        """Raise ``ValueError`` with a one-line fix for any out-of-range value; return self. ``groups`` limits
        the check to some of ``"data"``, ``"train"``, ``"search"`` (default: all). Names are checked by
        their registries (``memjax.pipeline.check``)."""
        for group in groups or ("data", "train", "search"):
            getattr(self, f"_check_{group}")()
        return self

    def _positive(self, *names: str) -> None:
        for name in names:
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{name}={getattr(self, name)} must be positive: pass {flag} 1 or more")

    def _check_data(self) -> None:
        if not 0.0 <= self.noise_rate < 1.0:
            raise ValueError(f"noise rate {self.noise_rate} is outside [0, 1): pass e.g. --noise-rate 0.45")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction={self.val_fraction} must lie in [0, 1): pass e.g. --val-fraction 0.1")
        if self.train_subset < 0:
            raise ValueError(f"train_subset={self.train_subset} is negative: pass 0 (all) or a sample count")
        if self.image_size < 0:
            raise ValueError(f"image_size={self.image_size} is negative: pass 0 (keep) or a side length in pixels")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction={self.test_fraction} must lie in (0, 1): pass e.g. --test-fraction 0.2")

    def _check_train(self) -> None:
        self._positive("epochs", "batch_size", "eval_batch_size", "tally_epochs", "seeds")
        if self.decay_start < 0:
            raise ValueError(f"decay_start={self.decay_start} is negative: pass 0 or more")
        if self.lr <= 0:
            raise ValueError(f"lr={self.lr} must be positive: pass e.g. --lr 0.001")
        if not 0.0 <= self.min_keep <= 1.0:
            raise ValueError(f"min_keep={self.min_keep} must lie in [0, 1]")
        self._check_forget_rate()

    def _check_forget_rate(self) -> None:
        if self.forget_rate in ("noise_rate", "auto"):
            return
        try:
            rate = float(self.forget_rate)
        except ValueError:
            rate = -1.0
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"forget_rate={self.forget_rate!r}: pass noise_rate, auto or a number in [0, 1)")

    def _check_search(self) -> None:
        self._positive("population", "generations", "reward_epochs")
        if self.search_keys not in SEARCH_KEYS:
            raise ValueError(f"search_keys={self.search_keys!r}: use one of {', '.join(SEARCH_KEYS)}")
        if self.reward_epochs > self.epochs:
            raise ValueError(f"reward_epochs={self.reward_epochs} exceeds epochs={self.epochs}: lower --reward-epochs")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)
