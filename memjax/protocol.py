"""The S2E paper's experiments as data: its noise settings, its comparison set, and its training protocol.

Settings (Yao et al. 2020, §4.2, Fig. 4 and Table 2, after Han et al. 2018): ``sym20`` symmetric 20%,
``sym50`` symmetric 50%, ``pair45`` pair flipping 45%. The comparison set, in the paper's order:
Standard, Co-teaching, Co-teaching+, Decoupling, F-correction, MentorNet, JoCoR, then S2E (Co-teaching
trained with the searched R(t)). Every run uses the same ``config.seed`` (validation split, search) and the
same retraining keys ``fold_in(key(seed), 1000 + s)``, s = 0..seeds−1 (``memjax.pipeline.retrain``).

``--protocol reference`` matches the official code (Co-teaching, github.com/bhanML/Co-teaching, and
Co-teaching+, github.com/xingruiyu/coteaching_plus, whose training loop and networks the S2E code uses)
where it matters, item by item:

1. Noise: ``noise_seed=0`` — the references hard-code ``random_state=0`` in ``noisify`` and draw one
   ``RandomState(0).multinomial`` per sample over the *whole* training set in dataset order
   (:func:`memjax.noise.corrupt_labels`); ``train_subset=0`` (the whole set, corrupted before the
   validation split is carved out).
2. Schedule: the code's form ``coteaching_schedule(T, τ, tk=10, c=1, reference=True)`` — forget rates
   ``linspace(0, τ, 10)`` over the first 10 epochs, then τ = the noise rate — for every method driven by
   R(t) (Co-teaching, Co-teaching+, and the others that read R(t)).
3. Training: 200 epochs, Adam lr 0.001, batch 128 with drop_last; from epoch 80 the learning rate decays
   linearly to 0 and Adam's β1 drops from 0.9 to 0.1 — for MNIST, CIFAR-10 *and* CIFAR-100 (Co-teaching+'s
   ``epoch_decay_start`` is 80 for every data set; only Co-teaching's own code, with its 9-layer CNN, uses
   100 for CIFAR-100). Inputs scaled to [0, 1], no augmentation.
4. Networks: MNIST MLP 784-256-10, CIFAR-10 the LeNet-like ``cnn_small``, CIFAR-100 the 6-conv BatchNorm
   ``cnn`` (Co-teaching+'s ``MLPNet``, ``CNN_small``, ``CNN``), PyTorch's default initialisation
   (``torch_init=True``).
5. Co-teaching+ ``init_epoch`` per data set: MNIST 0, CIFAR-10 20, CIFAR-100 5 (Co-teaching+'s main.py).
6. Co-teaching+'s loss as its ``loss.py`` computes it (:class:`memjax.methods.coteaching.PlusSettings`):
   after ``init_epoch`` the cross-entropy of the *softmax outputs* (``F.cross_entropy(F.softmax(z), y)``, a
   second softmax that bounds each sample's gradient) both ranks and trains; the kept mean is divided by
   the kept count again; a batch where the networks never disagree trains on all of it while
   epoch·step < 5000. ``--protocol default`` keeps memjax's logits cross-entropy, divided once, and no
   gradient from a batch without disagreement.
7. JoCoR's λ (``jocor.co_lambda``) as its authors set it per data set (github.com/hongxin001/JoCoR): MNIST
   0.95 (its ``example.sh``), CIFAR-10 0.9 and CIFAR-100 0.85 (its README); the code's default 0.1 stays
   memjax's default.
8. Search reward on *clean* validation labels (``clean_val=True``, the paper's eq. 2), 10% of the training
   set (stratified, seeded). The S2E code rewarded test accuracy instead; that is not repeated.
9. MentorNet as the official PD (github.com/google/mentornet; :data:`memjax.methods.mentornet.OFFICIAL`):
   a fixed percentile 0.7, moving-average decay 0.5, every weight 1 for the first 19% of training, the
   linear soft weight from 90%, example dropout 0.5 for the first 17% and 0.05 after, the weighted loss
   over the batch size. ``--protocol default`` keeps memjax's variant (p = R(t), searchable by S2E).
10. F-correction's T by Patrini's anchor estimator (github.com/giorgiop/loss-correction), one anchor per
    class below the 97th percentile, from the Standard network of the lowest *noisy*-validation loss
    (``fcorrection.estimator=anchor``); memjax's default under ``--clean-val`` counts the validation split's
    clean against noisy labels instead (:mod:`memjax.stages.transition`).

What even the reference protocol does differently from the official code (kept on purpose, small):
the networks train on 90% of the training set (10% is the validation split the reward needs); the code
trains epochs 1..199 of its 200-entry plans (one epoch fewer, starting one step into the schedule),
memjax trains all 200 from entry 0; Co-teaching's code caps an epoch at 401 mini-batches (Co-teaching+,
and memjax, use them all); the code evaluates the test set in drop_last batches of 128 (9,984 of 10,000
images), memjax all of it; reported accuracy is the mean of the two networks. MentorNet PD's trained
network is replaced by the function it is trained to reproduce (``vstar_mentornet_pd``), and its student is
the protocol's network and Adam plan, not the official ResNet-101 with SGD.

``--protocol reference10k`` keeps every rule of the reference protocol on a CPU-sized problem: a seeded random
10,000-image training subset (``train_subset``), 100 epochs, the decay (and JoCoR's β1 step) from epoch 40 — the
reference's 80 of 200. The rules counted in epochs keep their official epoch values (Co-teaching's tk = 10,
Co-teaching+'s ``init_epoch``), because memorisation is counted in passes over the noisy samples: on this subset
Standard's test accuracy still rises until epoch 20 (the probe), so selection reaches its full rate before the
networks fit the noise; MentorNet's burn-in and dropout plan are shares of training, as in its code. Why each
number, with the probe that chose it: ``docs/reproduction.md``.

``--protocol default`` keeps the presets (``configs/``) and memjax's defaults, which differ from the
reference in: noise seed 1, noisy validation labels (what a user has), Co-teaching's eq. (3) schedule
``1 − τ·min(s/tk, 1)`` (full rate one epoch later than the code's linspace), flax's default initialisation,
and the preset's training length (digits: 60 epochs).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from memjax import methods, options, search_stage
from memjax.methods import mentornet

SETTINGS = {"sym20": ("symmetric", 0.2), "sym50": ("symmetric", 0.5), "pair45": ("pair", 0.45)}
SETTINGS |= {"human_worse": ("human", "worse"), "human_aggre": ("human", "aggre")}  # CIFAR-10N, on request
PAPER_SETTINGS = ("sym20", "sym50", "pair45")  # the paper's, reproduce's default
SETTING_TITLES = {"sym20": "symmetric 20%", "sym50": "symmetric 50%", "pair45": "pair 45%"}
SETTING_TITLES |= {"human_worse": "CIFAR-10N worst (human)", "human_aggre": "CIFAR-10N aggregate (human)"}
HUMAN_TWINS = {"cifar10_jpeg": "cifar10n_jpeg", "cifar10": "cifar10_n", "tfds:cifar10": "cifar10_n"}
PAPER_ORDER = ("standard", "coteaching", "coteaching_plus", "decoupling", "fcorrection", "mentornet", "jocor")
COMPARISON = {name: methods.get(name).label for name in PAPER_ORDER}  # registry name → label, the paper's order
S2E, S2E_LABEL = "s2e", "S2E"
S2E_METHODS = ("coteaching", "jocor")  # reproduce's default: the paper's S2E and S2E over the strongest rule
REFERENCE_10K = {  # the reference rules sized for a 2-core CPU (module docstring, "reference10k")
    "train_subset": 10_000,  # a seeded random subset: 9,000 train + 1,000 clean validation
    "epochs": 100,  # Standard peaks at epoch 20 and has fallen 16.6 points by 100 (the probe, sym-50)
    "decay_start": 40,  # the reference's 80 of 200: lr → 0 and β1 0.9 → 0.1 over the last 60%
}
SIZES = {"reference": {}, "reference10k": REFERENCE_10K}  # the official codes' rules, over these sizes
REFERENCE_FORM = tuple(SIZES)  # protocols that keep the official codes' rules and R(t) form
PROTOCOLS = ("reference", "default", "reference10k")
SUMMARY = {
    "reference": "reference (memjax.protocol): labels corrupted with RandomState(0) over the whole training set in "
    "order; Co-teaching's R(t) in the code's form (linspace over 10 epochs, then τ = noise rate); 200 epochs, Adam "
    "lr 0.001, batch 128, lr → 0 and β1 0.9 → 0.1 from epoch 80; PyTorch initialisation; Co-teaching+ init_epoch "
    "per data set and its official loss (softmax outputs, divided twice, early full-batch fallback); JoCoR's λ per "
    "data set (MNIST 0.95, CIFAR-10 0.9, CIFAR-100 0.85); MentorNet as the official PD (percentile 0.7, burn-in, "
    "soft weights from 90%, example dropout); F-correction's T by Patrini's anchors; a 10% validation split with "
    "clean labels for the search reward (eq. 2).",
    "reference10k": "reference10k: the reference protocol's rules on a seeded random 10,000-image training subset "
    "for 100 epochs, the decay from epoch 40 (80 of 200); epoch-counted rules at their official epoch values "
    "(tk 10, Co-teaching+ init_epoch 20 on CIFAR-10), MentorNet's burn-in and dropout plan as their official "
    "shares of training.",
    "default": "default: the preset's values and memjax's defaults (noise seed 1, noisy validation labels, "
    "Co-teaching's eq. 3 schedule, flax initialisation); memjax.protocol lists the differences from the reference.",
}
FAMILIES = {  # dataset name → the paper's data set whose reference values apply
    "mnist": "mnist",
    "mnist17k": "mnist",
    "tfds:mnist": "mnist",
    "cifar10": "cifar10",
    "cifar10_jpeg": "cifar10",
    "tfds:cifar10": "cifar10",
    "cifar100": "cifar100",
    "tfds:cifar100": "cifar100",
}
REFERENCE_COMMON = {  # the numbers are the items of the module docstring
    "noise_seed": 0,  # 1
    "train_subset": 0,  # 1
    "tk": 10,  # 2
    "c": 1.0,  # 2
    "epochs": 200,  # 3
    "lr": 1e-3,  # 3
    "batch_size": 128,  # 3
    "decay_start": 80,  # 3
    "torch_init": True,  # 4
    "clean_val": True,  # 8
    "val_fraction": 0.1,  # 8
    "min_keep": 0.01,  # the S2E code clips the forget rate at 0.99
}
PLUS_OFFICIAL = "coteaching_plus.loss=softmax,coteaching_plus.scale=twice,coteaching_plus.fallback_steps=5000"  # 6
MENTORNET_OFFICIAL = ",".join(f"mentornet.{kv}" for kv in mentornet.OFFICIAL.split(","))  # 9
FCORRECTION_OFFICIAL = "fcorrection.estimator=anchor"  # 10


def _family(model: str, init_epoch: int, co_lambda: float) -> dict:
    """A data set's reference model and method options (items 4 to 7)."""
    return dict(
        model=model,
        method_options=f"coteaching_plus.init_epoch={init_epoch},{PLUS_OFFICIAL},jocor.co_lambda={co_lambda},"
        + f"{MENTORNET_OFFICIAL},{FCORRECTION_OFFICIAL}",
    )


REFERENCE_BY_FAMILY = {
    "mnist": _family("mlp", 0, 0.95),
    "cifar10": _family("cnn_small", 20, 0.9),
    "cifar100": _family("cnn", 5, 0.85),
}


def s2e_name(method: str) -> str:
    """The row (and piece file) name of S2E over ``method``'s R(t): ``s2e`` for the paper's Co-teaching."""
    return S2E if method == "coteaching" else f"{S2E}_{method}"


def s2e_label(method: str) -> str:
    """The S2E row's label: plain for the paper's Co-teaching, else the search stage's label naming the method
    it searches (:func:`memjax.search_stage.labels`, the same as ``launch``'s row)."""
    return S2E_LABEL if method == "coteaching" else search_stage.labels(method)[0]


def row_label(name: str) -> str:
    """The label of a comparison row: a method's, or S2E over a method (:func:`s2e_name`)."""
    return COMPARISON.get(name) or s2e_label("coteaching" if name == S2E else name.removeprefix(f"{S2E}_"))


def apply(config, protocol: str):
    """``config`` under ``protocol``: the reference values (module docstring) or ``config`` unchanged."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
    if protocol == "default":
        return config
    family = FAMILIES.get(config.dataset)
    if family is None:
        raise ValueError(
            f"the reference protocol is defined for {', '.join(FAMILIES)}, not {config.dataset!r}: "
            "pass --protocol default"
        )
    family = dict(REFERENCE_BY_FAMILY[family])  # its method options over the config's
    family["method_options"] = options.merge(config.method_options, family["method_options"])
    return config.replace(**{**REFERENCE_COMMON, **SIZES[protocol]}, **family)


def departures(config, reference) -> dict[str, tuple]:
    """``{field: (protocol value, value used)}`` for every field where ``config`` leaves the protocol."""
    mine, theirs = dataclasses.asdict(config), dataclasses.asdict(reference)
    return {k: (theirs[k], v) for k, v in mine.items() if theirs[k] != v}


def for_setting(config, setting: str):
    """``config`` in noise ``setting``: a synthetic kind and rate, or (``human_*``) the data set's human labels
    of that kind (CIFAR-10N for ``cifar10_jpeg`` and ``cifar10``); a one-line error for other data."""
    noise, rate = SETTINGS[setting]
    if noise != "human":
        return config.replace(noise=noise, noise_rate=rate)
    if config.dataset not in HUMAN_TWINS:
        raise ValueError(f"setting {setting} needs human labels: they exist for {', '.join(HUMAN_TWINS)}, not "
                         f"{config.dataset!r}")  # fmt: skip
    return config.replace(dataset=f"{HUMAN_TWINS[config.dataset]}:{rate}")


def schedule(config, protocol: str) -> np.ndarray:
    """R(t) of ``config.method`` with its default schedule: Co-teaching's at τ = the noise rate, in the code's
    form under the reference protocol (eq. 3 otherwise); all ones for methods that ignore R(t)."""
    return np.asarray(methods.default_schedule(config, reference=protocol in REFERENCE_FORM))
