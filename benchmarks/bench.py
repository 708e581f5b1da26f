"""Throughput benchmark of the training engine (prints a table and writes JSON; not a test).

    python -m benchmarks.bench --out bench.json            # float32 and bfloat16, MLP pair and CNNSmall

For each compute dtype it measures, after a warm-up call that compiles: samples/s of one Co-teaching run of
the MNIST MLP pair (batch 128, MNIST-shaped data), of vmapped populations K ∈ {1, 4, 16} (total and per
candidate), of CNNSmall on CIFAR-shaped data, the compile time, and achieved GFLOP/s (XLA's own flop count
of the compiled run divided by its time) next to a same-dtype matmul measured in the same process.
"Samples" counts training samples seen by the pair per second (each feeds both networks).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from memjax import train as engine_lib
from memjax.config import Config
from memjax.data import Dataset
from memjax.train import make_train


def synthetic_dataset(num_train: int, shape: tuple[int, ...], num_classes: int = 10, seed: int = 0) -> Dataset:
    """Random uint8 images and labels of a real dataset's shape (throughput does not depend on content)."""
    rng = np.random.RandomState(seed)

    def split(n):
        return rng.randint(0, 256, (n, *shape), dtype=np.uint8), rng.randint(0, num_classes, n).astype(np.int32)

    (x, y), (vx, vy), (tx, ty) = split(num_train), split(1000), split(1000)
    return Dataset("synthetic", num_classes, x, y, rng.permutation(y), vx, vy, tx, ty)


def _timed(fn, *args, repeats: int):
    """Best wall time over ``repeats`` calls (after the caller's warm-up): the least disturbed by other
    processes on a shared machine."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def measure_training(config: Config, data: Dataset, population: int, repeats: int = 3) -> dict:
    """samples/s, compile time and achieved GFLOP/s of one (population=0) or a vmapped population of runs."""
    train = make_train(config, data)
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
    jax.block_until_ready(compiled(*args))
    seconds = _timed(compiled, *args, repeats=repeats)
    steps = train.engine.steps_per_epoch
    samples = k * config.epochs * steps * config.batch_size
    flops = step_flops(train) * k * config.epochs * steps
    return {
        "model": config.model,
        "dtype": config.compute_dtype,
        "population": population,
        "compile_s": round(compile_s, 2),
        "run_s": round(seconds, 3),
        "samples_per_s": round(samples / seconds),
        "samples_per_s_per_candidate": round(samples / seconds / k),
        "gflops": round(flops / seconds / 1e9, 1),
    }


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
    return 2 * n**3 * 4 / _timed(chain, a, repeats=repeats) / 1e9


def run(dtypes=("float32", "bfloat16"), populations=(0, 1, 4, 16), epochs: int = 2) -> dict:
    mnist = synthetic_dataset(12_800, (28, 28, 1))
    cifar = synthetic_dataset(6_400, (32, 32, 3))
    rows, peaks = [], {}
    for dtype in dtypes:
        peaks[dtype] = round(matmul_gflops(2048, dtype), 1)
        mlp = Config(model="mlp", epochs=epochs, compute_dtype=dtype)
        rows += [measure_training(mlp, mnist, k) for k in populations]
        rows.append(measure_training(mlp.replace(model="cnn_small"), cifar, 0))
    return {
        "device": jax.devices()[0].device_kind,
        "platform": jax.default_backend(),
        "cpu_count": jax.local_device_count() if jax.default_backend() != "cpu" else None,
        "host": platform.processor() or platform.machine(),
        "jax": jax.__version__,
        "matmul_gflops_2048": peaks,
        "runs": rows,
    }


def format_table(result: dict) -> str:
    head = "| model | dtype | K | samples/s | per candidate | GFLOP/s | compile s |"
    lines = [head, "|" + "---|" * 7]
    for r in result["runs"]:
        k = r["population"] or "1 (no vmap)"
        lines.append(
            f"| {r['model']} | {r['dtype']} | {k} | {r['samples_per_s']:,} | "
            f"{r['samples_per_s_per_candidate']:,} | {r['gflops']} | {r['compile_s']} |"
        )
    peaks = ", ".join(f"{d}: {g} GFLOP/s" for d, g in result["matmul_gflops_2048"].items())
    lines.append(f"\n{result['device']} ({result['platform']}); 2048³ matmul in the same run: {peaks}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench.json", help="where to write the JSON results")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="comma-separated compute dtypes")
    parser.add_argument("--populations", default="0,1,4,16", help="K values; 0 = a single run without vmap")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed run")
    args = parser.parse_args(argv)
    result = run(args.dtypes.split(","), [int(k) for k in args.populations.split(",")], args.epochs)
    print(format_table(result))
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
