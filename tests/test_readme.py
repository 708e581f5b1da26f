"""The README's library example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.slow
def test_library_example_runs():
    text = README.read_text()
    code = re.search(r"## Using the pure functions.*?```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["metrics"]["val_acc"].shape == (8, 40, 2)
    assert np.all(np.isfinite(namespace["fitness"]))
    np.testing.assert_array_equal(namespace["mask"], [True, False, True, False])
    assert int(namespace["search"].generation) == 1
