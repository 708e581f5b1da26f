"""The README is a first page: its library example runs as written, it stays short, and its links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


@pytest.mark.slow
def test_library_example_runs():
    text = README.read_text()
    code = re.search(r"## Using the pure functions.*?```python\n(.*?)```", text, re.S).group(1)
    assert len(code.strip().splitlines()) <= 15  # the first page's example stays short; the tutorial has the rest
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["metrics"]["val_acc"].shape == (8, 40, 2)
    assert np.all(np.isfinite(namespace["fitness"]))
    assert int(namespace["search"].generation) == 1


def test_readme_is_short_and_its_links_resolve():
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not re.match(r"[a-z]+:", target):
            assert (ROOT / target).exists(), f"README links to a missing file: {target}"
