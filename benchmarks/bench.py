"""Throughput benchmark of the training engine (prints a table and writes JSON; not a test).

    python -m benchmarks.bench --out bench.json            # float32 and bfloat16, MLP pair and CNNSmall
    python -m benchmarks.bench --device gpu --out gpu.json # the GPU grid: mlp, cnn_small, cnn × K 1..128

For each compute dtype it measures, after a warm-up call that compiles: samples/s of one Co-teaching run of
the MNIST MLP pair (batch 128, MNIST-shaped data), of vmapped populations K ∈ {1, 4, 16} (total and per
candidate), of CNNSmall on CIFAR-shaped data, the compile time, and achieved GFLOP/s (XLA's own flop count
of the compiled run divided by its time) next to a same-dtype matmul measured in the same process.
"Samples" counts training samples seen by the pair per second (each feeds both networks). Each row also
gives XLA's memory footprint of the compiled program (arguments, outputs, temporaries) and the wall time
of one 200-epoch generation at the measured rate, and the pair step's floor: its matrix products alone
(:func:`pair_matmul_floor_ms`). The PyTorch peer (:mod:`benchmarks.torch_peer`, when
torch is installed) runs the same float32 pair step (MLP and CNNSmall) as an eager loop in the same
process, and the ratio of each is printed. A row-Toeplitz convolution (``conv_impl="rows"``, the CPU
default) multiplies by banded matrices whose zeros XLA counts as flops; its GFLOP/s count the im2col
form's flops instead (the convolution's useful work), so the fraction of the matmul rate stays honest.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import timing, torch_peer
from memjax import conv
from memjax import train as engine_lib
from memjax.config import Config
from memjax.data import Dataset, random_dataset
from memjax.train import make_train


def _timed(fn, *args, repeats: int) -> tuple[float, float]:
    """(wall, CPU) seconds of ``fn(*args)``, each the best of ``repeats`` calls after the caller's warm-up."""
    return timing.best_of(lambda: jax.block_until_ready(fn(*args)), repeats)


MEMORY_PARTS = ("argument", "output", "temp")
BATCH = Config().batch_size  # every grid row trains at the default batch size (128)
GRIDS = {  # model → populations (0 = one run without vmap); the GPU grid of docs/performance.md
    "cpu": {"mlp": None, "cnn_small": (0,)},  # None: the --populations flag
    "gpu": {"mlp": (1, 8, 32, 128), "cnn_small": (1, 8, 32, 128), "cnn": (1, 8, 32, 128)},
}
SHAPES = {"mlp": ((28, 28, 1), 10, 12_800), "cnn_small": ((32, 32, 3), 10, 6_400), "cnn": ((32, 32, 3), 100, 6_400)}


def measure_training(config: Config, data: Dataset, population: int, repeats: int = 3) -> dict:
    """samples/s, compile time and achieved GFLOP/s of one (population=0) or a vmapped population of runs."""
    train = make_train(config, data, issues_at="last")  # the training step alone, no label-issue snapshot
    k = max(population, 1)
    schedules = jnp.full((k, config.epochs), 0.7)
    keys = jax.random.split(jax.random.key(0), k)
    if population:
        fn, args = train.compiled_population, (train.data, schedules, keys)
    else:
        fn, args = train.compiled_run, (train.data, schedules[0], keys[0])
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - start
    memory = compiled.memory_analysis()
    jax.block_until_ready(compiled(*args))
    seconds, cpu_seconds = _timed(compiled, *args, repeats=repeats)
    steps = train.engine.steps_per_epoch
    samples = k * config.epochs * steps * config.batch_size
    flops = step_flops(useful_work(config, data, train)) * k * config.epochs * steps
    return {
        "model": config.model,
        "dtype": config.compute_dtype,
        "population": population,
        "compile_s": round(compile_s, 2),
        "run_s": round(seconds, 3),
        "samples_per_s": round(samples / seconds),
        "samples_per_s_per_candidate": round(samples / seconds / k),
        "samples_per_cpu_s": round(samples / cpu_seconds),
        "gflops": round(flops / seconds / 1e9, 1),
        "memory_mb": round(sum(getattr(memory, f"{part}_size_in_bytes") for part in MEMORY_PARTS) / 2**20, 1),
        "generation_200_s": round(seconds / config.epochs * 200, 1),
    }


def useful_work(config: Config, data: Dataset, train):
    """The program whose flops count as the run's work: the im2col (``gemm``) form of a row-Toeplitz
    convolution's (the same convolutions without the band's zeros), otherwise ``train`` itself."""
    if config.model == "mlp" or conv.resolve(config.conv_impl) != "rows":
        return train
    return make_train(dataclasses.replace(config, conv_impl="gemm"), data, issues_at="last")


def step_flops(train) -> float:
    """XLA's flop count of one training step of the pair (forward, backward, Adam). The whole run's own
    count is unusable: XLA counts a loop body once, not once per iteration."""
    engine = train.engine
    state = engine_lib.init_state(engine, jax.random.key(0))
    idx = jnp.arange(engine.batch_size)
    step = jax.jit(lambda s: engine_lib.train_step(engine, train.data, s, idx, jax.random.key(0), 0.7, 0))
    cost = step.lower(state).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get("flops", np.nan)) if cost else np.nan


def matmul_gflops(n: int, dtype: str, repeats: int = 5) -> float:
    """GFLOP/s of an n×n·n×n matmul in ``dtype`` (float32 accumulation), chained so XLA cannot hoist it."""
    a = jnp.ones((n, n), dtype) * 1e-3

    @jax.jit
    def chain(a):
        def body(x, _):
            return jnp.dot(x, a, preferred_element_type=jnp.float32).astype(dtype), None

        return jax.lax.scan(body, a, None, length=4)[0]

    jax.block_until_ready(chain(a))
    return 2 * n**3 * 4 / _timed(chain, a, repeats=repeats)[0] / 1e9


def pair_matmul_floor_ms(dtype: str = "float32", batch: int = BATCH, dims=(784, 256, 10), steps: int = 200) -> float:
    """Milliseconds per step of the MLP pair's matrix products alone, per network: the forward x·W₁, h·W₂,
    the weight gradients xᵀ·δh, hᵀ·δl and the hidden gradient δl·W₂ᵀ (the input's gradient is never
    computed): a floor for the whole step (forward, backward, Adam, selection) on this device and dtype."""
    d, h, c = dims
    shapes = [(batch, d), (2, batch, h), (2, batch, c), (2, d, h), (2, h, c)]
    keys = jax.random.split(jax.random.key(0), len(shapes))
    x, dh, dl, w1, w2 = (jax.random.normal(k, s, dtype) for k, s in zip(keys, shapes, strict=True))

    def products(x, n):  # max of each result: no algebraic shortcut (a sum of a product could be one)
        dot = lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32)
        hidden = dot(x, w1[n]).astype(dtype)
        parts = (dot(hidden, w2[n]), dot(x.T, dh[n]), dot(hidden.T, dl[n]), dot(dl[n], w2[n].T))
        return sum(p.max() for p in parts)

    @jax.jit
    def loop(x):  # every step's input depends on the last step's results: nothing is hoisted out of the loop
        def step(acc, _):
            xs = (x * (1 + 1e-9 * acc)).astype(dtype)
            return acc + products(xs, 0) + products(xs, 1), None

        return jax.lax.scan(step, jnp.float32(0), None, length=steps)[0]

    jax.block_until_ready(loop(x))
    return _timed(loop, x, repeats=5)[0] / steps * 1e3


def run(dtypes=("float32", "bfloat16"), populations=(0, 1, 4, 16), epochs=2, grid="cpu", peer=True, models=None):
    """The grid's rows (of ``models``, default all) for every dtype, and (``peer``) the PyTorch peer of each
    float32 pair it has a network for."""
    data = {model: random_dataset(n, shape, classes) for model, (shape, classes, n) in SHAPES.items()}
    models = tuple(GRIDS[grid]) if models is None else tuple(models)
    rows, peaks, floors = [], {}, {}
    for dtype in dtypes:
        peaks[dtype] = round(matmul_gflops(2048, dtype), 1)
        floors[dtype] = round(pair_matmul_floor_ms(dtype), 3)
        for model, ks in ((m, GRIDS[grid][m]) for m in models):
            config = Config(model=model, epochs=epochs, compute_dtype=dtype)
            rows += [measure_training(config, data[model], k) for k in (populations if ks is None else ks)]
    peers, note = peer_rows(data, models, epochs) if peer and "float32" in dtypes else ([], None)
    return {
        "device": jax.devices()[0].device_kind,
        "platform": jax.default_backend(),
        "cpu_count": jax.local_device_count() if jax.default_backend() != "cpu" else None,
        "host": platform.processor() or platform.machine(),
        "jax": jax.__version__,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "matmul_gflops_2048": peaks,
        "pair_matmul_floor_ms": floors,
        "runs": rows,
        "peers": peers,
        "peer_note": note,
    }


def peer_rows(data: dict[str, Dataset], models, epochs: int) -> tuple[list[dict], str | None]:
    """(rows, note): the PyTorch peer's row for each of ``models`` it has a network for, or none and why."""
    if not torch_peer.available():
        return [], "PyTorch peer skipped: torch is not installed (pip install torch)"
    return [torch_peer.measure(data[m], epochs, model=m) for m in models if m in torch_peer.MODELS], None


def pair_run(result: dict, model: str = "mlp") -> dict | None:
    """The row of the float32 pair of ``model``, one run without vmap (the step PyTorch's peer repeats)."""
    return next((r for r in result["runs"] if (r["model"], r["dtype"], r["population"]) == (model, "float32", 0)), None)


def peer_run(result: dict, model: str = "mlp") -> dict | None:
    """The PyTorch peer's row of ``model``, if measured."""
    return next((r for r in result["peers"] if r["model"] == f"{model} (PyTorch eager)"), None)


def peer_ratio(result: dict, rate: str = "samples_per_s", model: str = "mlp") -> float | None:
    """``rate`` (samples/s, or samples per CPU second) of the float32 pair of ``model`` (one run, no vmap)
    over the PyTorch eager loop's."""
    ours, theirs = pair_run(result, model), peer_run(result, model)
    return None if ours is None or theirs is None else ours[rate] / theirs[rate]


def format_table(result: dict) -> str:
    head = "| model | dtype | K | samples/s | per candidate | GFLOP/s | compile s | memory MB | 200 epochs s |"
    lines = [head, "|" + "---|" * 9]
    for r in result["runs"] + result["peers"]:  # samples per CPU second: in the JSON
        k = r["population"] or "1 (no vmap)"
        lines.append(
            f"| {r['model']} | {r['dtype']} | {k} | {r['samples_per_s']:,} | {r['samples_per_s_per_candidate']:,} | "
            f"{r['gflops']} | {r['compile_s']} | {r.get('memory_mb', '')} | {r.get('generation_200_s', '')} |"
        )
    peaks = ", ".join(f"{d}: {g} GFLOP/s" for d, g in result["matmul_gflops_2048"].items())
    lines.append(f"\n{result['device']} ({result['platform']}); 2048³ matmul in the same run: {peaks}")
    for model in dict.fromkeys(r["model"] for r in result["runs"]):
        lines += _peer_lines(result, model)
    ours = pair_run(result)
    if ours is not None and "float32" in result["pair_matmul_floor_ms"]:
        step, floor = BATCH * 1e3 / ours["samples_per_s"], result["pair_matmul_floor_ms"]["float32"]
        line = f"MLP pair, float32, one step: {step:.2f} ms; its matrix products alone: {floor:.2f} ms"
        if peer_run(result) is not None:
            torch_step = BATCH * 1e3 / peer_run(result)["samples_per_s"]
            line += f"; PyTorch's step {torch_step:.2f} ms, so 2× PyTorch needs a step of {torch_step / 2:.2f} ms"
        lines.append(line)
    if result["peer_note"]:
        lines.append(result["peer_note"])
    return "\n".join(lines)


def _peer_lines(result: dict, model: str) -> list[str]:
    """The PyTorch ratio of ``model``'s pair and, for a CNN, its fraction of the matmul rate."""
    lines, ours = [], pair_run(result, model)
    ratio = peer_ratio(result, model=model)
    if ratio is not None:
        threads, per_cpu = peer_run(result, model)["threads"], peer_ratio(result, "samples_per_cpu_s", model)
        lines.append(
            f"{model} pair, float32, one run: {ratio:.2f}× the PyTorch eager loop's samples/s ({threads} threads), "
            f"{per_cpu:.2f}× its samples per CPU second"
        )
    peak = result["matmul_gflops_2048"].get("float32")
    if ours is not None and model != "mlp" and peak:
        share = ours["gflops"] / peak
        lines.append(f"{model} pair, float32: {ours['gflops']} GFLOP/s = {share:.0%} of the matmul rate")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench.json", help="where to write the JSON results")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="comma-separated compute dtypes")
    parser.add_argument("--populations", default="0,1,4,16", help="K values; 0 = a single run without vmap")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed run")
    parser.add_argument("--device", choices=tuple(GRIDS), help="platform and its grid (default: JAX's default)")
    parser.add_argument("--no-peer", action="store_true", help="skip the PyTorch peer")
    parser.add_argument("--models", help="comma-separated models of the grid to run (default: all)")
    parser.add_argument("--cores", type=int, help="run on the first N cores only (XLA and torch threads alike)")
    args = parser.parse_args(argv)
    if args.cores:  # before JAX starts its thread pool; torch_peer.measure sizes torch's to the same cores
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])
    if args.device:
        jax.config.update("jax_platforms", "cuda" if args.device == "gpu" else "cpu")
    grid = args.device or ("gpu" if jax.default_backend() == "gpu" else "cpu")
    populations = [int(k) for k in args.populations.split(",")]
    models = args.models.split(",") if args.models else None
    result = run(args.dtypes.split(","), populations, args.epochs, grid, not args.no_peer, models)
    print(format_table(result))
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
