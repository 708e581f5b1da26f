"""Own data written back: a user's CSV with the flagged label issues dropped or relabelled."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from memjax import io as memjax_io


def export_csv(source: str, path, label_column: str, table: dict, relabel: bool, class_names) -> int:
    """Write ``source``'s CSV to ``path`` with the flagged training/validation rows dropped, or their label
    replaced by the predicted class when ``relabel`` (held-out test rows are kept as they are). Returns
    the data rows written."""
    with open(Path(source).expanduser(), newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], [r for r in rows[1:] if any(c.strip() for c in r)]
    column = [h.strip() for h in header].index(label_column)
    rows = np.flatnonzero(table["flagged"])
    flagged = dict(zip(table["index"][rows].tolist(), table["predicted_label"][rows].tolist(), strict=True))
    kept = []
    for i, row in enumerate(body):
        if i in flagged and not relabel:
            continue
        if i in flagged:
            row = [*row[:column], str(class_names[flagged[i]]), *row[column + 1 :]]
        kept.append(row)

    text = io.StringIO()
    csv.writer(text).writerows([header, *kept])
    memjax_io.write_atomic(path, lambda f: f.write(text.getvalue().encode()))
    return len(kept)
