"""Co-teaching+ against Co-teaching under ``--protocol reference`` on the real MNIST subset at symmetric 50%
(issue #21): the official code's ordering. The official Co-teaching+ ends at 92.42 (last-10 mean,
docs/official_runs.md) and Co-teaching at 87.6 (memjax within 0.3 points of its official code), and
memjax's faithful Co-teaching+ at 91.91 (README): the double-softmax loss keeps Co-teaching+ above.

Slow: the first 50 epochs of the 200-epoch plan (its learning-rate decay starts at epoch 80, so these are
the plan's own epochs), seed 0, ~1 min per method on a loaded 2-core CPU. Measured for this exact
configuration: last-10 mean Co-teaching+ 93.39, Co-teaching 90.33 (seed 1: 93.37 / 90.33); asserted one
point below that margin of 3.06."""

from __future__ import annotations

import pytest

from memjax import data as data_lib
from memjax import pipeline, protocol, reproduce_report
from memjax.config import Config

EPOCHS = 50


def last10(config, data) -> float:
    """Last-10-epoch mean test accuracy of ``config.method``'s reference R(t), as the reproduction's table
    computes it (:func:`memjax.reproduce_report.accuracies`: the mean of the two networks)."""
    (run,), _ = pipeline.retrain(config, data, {config.method: protocol.schedule(config, "reference")})
    return float(reproduce_report.accuracies(run["metrics"]["test_acc"][None])["last10"][0])


@pytest.mark.slow
def test_reference_coteaching_plus_ends_above_coteaching_at_sym50(mnist_npz):
    config = protocol.for_setting(protocol.apply(Config(dataset="mnist17k", seeds=1), "reference"), "sym50")
    config = config.replace(epochs=EPOCHS, decay_start=EPOCHS)  # the plan's first 50 epochs, before its decay
    assert "coteaching_plus.loss=softmax" in config.method_options  # the official double softmax
    data = data_lib.load(config)
    plus, coteaching = (last10(config.replace(method=m), data) for m in ("coteaching_plus", "coteaching"))
    assert plus - coteaching > 0.02, (plus, coteaching)
