"""What the two command lines share (``python -m memjax.launch`` and ``python -m memjax.reproduce``): the
one-line-error parser, one ``--field-name`` flag per :class:`~memjax.config.Config` field (booleans parsed by
:func:`memjax.options.parse_bool`, the one true/false parser), the preset of a data set, the writable-folder
check, and the hint for flags of older versions.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

from memjax import methods, models, noise, options, search
from memjax.config import LEGACY, Config

CHOICES = {  # --help lists each name field's choices from the registry that owns it
    "method": methods.METHODS,
    "search": search.ALGORITHMS,
    "model": models.MODELS,
    "noise": noise.NOISE_KINDS,
}


_PACKAGE = Path(__file__).resolve().parent  # memjax/: where its own checks raise


class UsageError(ValueError):
    """A bad command line: reported as one line, exit status 2."""


def _parse_value(field: dataclasses.Field, text: str):
    kind = type(field.default) if field.default is not None else str
    try:
        return options.parse_value(kind, text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def quiet_libraries() -> None:
    """Process-wide settings of the command lines, made once there (never by a library call): optuna (the bo
    search) logs warnings only, not a line per trial."""
    try:
        import optuna
    except ImportError:
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        self.exit(2, f"memjax: error: {message}{_legacy_hint(message)} (see --help)\n")


def _legacy_hint(message: str) -> str:
    """For a flag of an older version (``--co-lambda 0.9``): the ``--method-options`` spelling that replaced it."""
    for field, key in LEGACY.items():
        if "--" + field.replace("_", "-") in message:
            return f"; {field} is now a method option: pass --method-options {key}=VALUE"
    return ""


def _help(field: dataclasses.Field) -> str:
    text = field.metadata["help"]
    if field.name in CHOICES:
        text = f"{' | '.join(CHOICES[field.name])}: {text}"
    return text + (" (given without --search: run this method, no search)" if field.name == "method" else "")


def command_parser(prog: str, description: str, doc: str) -> Parser:
    """A one-line-error parser whose --help ends with ``doc`` after its first paragraph (the module's usage)."""
    return Parser(
        prog=prog,
        allow_abbrev=False,  # --noise must not silently mean --noise-rate
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=doc.split("\n\n", 1)[1],
    )


def add_config_fields(fields) -> None:
    """One ``--field-name`` flag per :class:`Config` field on the argument group ``fields`` (absent unless given)."""
    for field in dataclasses.fields(Config):
        flag = "--" + field.name.replace("_", "-")
        switch = {"nargs": "?", "const": True} if isinstance(field.default, bool) else {}  # --clean-val alone = true
        fields.add_argument(
            flag,
            dest=field.name,
            default=argparse.SUPPRESS,
            type=lambda text, f=field: _parse_value(f, text),
            metavar=type(field.default).__name__.upper() if field.default is not None else "STR",
            help=_help(field),
            **switch,
        )


def given_fields(args: argparse.Namespace) -> dict:
    """The :class:`Config` fields the command line set (flags absent unless given: :func:`add_config_fields`)."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(Config) if hasattr(args, f.name)}


def apply_flags(config: Config, given: dict) -> tuple[Config, str]:
    """``config`` (a preset, or a protocol over one) with the flags ``given`` over it, the one rule of both
    command lines: epoch-counted settings follow ``--epochs`` (:func:`follow_epochs`, whose note is returned),
    then the flags replace fields, ``--method-options`` key by key over the config's own."""
    config, note = follow_epochs(config, given)
    if "method_options" in given:  # the flag's keys over the preset's or protocol's (e.g. coteaching_plus.init_epoch)
        given = {**given, "method_options": options.merge(config.method_options, given["method_options"])}
    return config.replace(**given), note


def follow_epochs(config: Config, given: dict) -> tuple[Config, str]:
    """(``config`` trained for ``given["epochs"]`` by :meth:`Config.with_epochs`, a line saying what scaled;
    "" when nothing did). Counts in ``given`` (flags, method options) are the user's and stay."""
    if "epochs" not in given or given["epochs"] == config.epochs:
        return config, ""
    keys = {key for key, _ in options.items(given.get("method_options", ""), "method option")}
    keys |= {f"{given.get('method', config.method)}.{key}" for key in keys} | set(given)
    before = config.epochs
    config, changes = config.with_epochs(given["epochs"], keys, methods.phase_options())
    if not changes:
        return config, ""
    moved = ", ".join(f"{name} {a} → {b}" for name, (a, b) in changes.items())
    return config, f"--epochs {config.epochs}: the preset's {before}-epoch settings follow it: {moved}"


def preset_for(dataset: str) -> str:
    if dataset.startswith(("folder:", "csv:")):
        return "own"
    for name in ("cifar100", "cifar10", "mnist"):
        if dataset.removeprefix("tfds:").startswith(name):
            return name
    return "digits"


def check_writable(run_dir: Path) -> None:
    """The run folder can be created: its nearest existing ancestor is a folder we can write a file in."""
    parent = next(p for p in [run_dir, *run_dir.parents] if p.exists())
    if not parent.is_dir():
        raise UsageError(f"run folder {run_dir} cannot be created: {parent} is a file; pass another --runs-dir")
    try:
        tempfile.TemporaryFile(dir=parent).close()
    except OSError as err:
        raise UsageError(f"run folder {run_dir} is not writable ({parent}: {err.strerror}): pass --runs-dir") from None


def user_error(error: Exception) -> bool:
    """Whether ``error`` is the user's to fix (one line, exit 2): an ``OSError`` (a missing or unreadable
    file), or a ``ValueError`` that memjax raised itself (its checks: bad flags, values, data, run folders).
    A ``ValueError`` raised inside a library (numpy, jax) is a bug of memjax: it keeps its traceback."""
    if isinstance(error, OSError):
        return True
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE)
