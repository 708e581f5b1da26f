"""Your own data (``--dataset folder:PATH`` or ``csv:PATH --label-column NAME``): labels taken as given.

    python -m memjax.launch --dataset folder:my_images --image-size 32 --method coteaching
    python -m memjax.launch --dataset csv:table.csv --label-column label --method coteaching

No synthetic noise is added (``noise_rate=0``: pass ``--noise-rate`` to inject some and measure how well
the flips are found), and Co-teaching's forget rate is estimated from the data (``forget_rate=auto``);
the S2E search (the default mode) needs no noise rate at all. Small-data settings of the digits preset:
MLP, batch 32, 60 epochs. Every run writes label_issues.csv (see ``memjax.label_issues``).
"""

from memjax.configs import digits


def get_config(smoke: bool = False):
    return digits.get_config(smoke).replace(dataset="folder:.", noise_rate=0.0, forget_rate="auto")
