"""How hyper-representation training shares a CPU with another job, by torch thread count.

Times the `tetris_cpu` training step (as `train_profile.py` does) with 1 and 2 torch threads, alone and
beside a competing process that this script starts itself (one thread of float32 matrix products,
all the time), each in a fresh Python process so that OpenMP starts with the settings given; then
again with OpenMP's passive wait policy (`OMP_WAIT_POLICY=PASSIVE`, which must be set before torch
starts). Prints samples/s, the median of `--repeats` runs each, and how much slower each setting is
beside the other job than the fastest setting alone. docs/performance.md holds the figures.

    python benchmarks/thread_contention.py [--repeats 3] [--steps 8] [--recipe tetris_cpu]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMPETITOR = "import torch\ntorch.set_num_threads(1)\na = torch.randn(512, 512)\nwhile True:\n    a @ a"


def child(threads: int, steps: int, recipe: str):
    """Runs in a fresh process: print the samples/s of one timing."""
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    import train_profile

    torch.set_num_threads(threads)
    batch = train_profile.get_recipe(train_profile.CASES[recipe][0]).batch_size
    print(batch / train_profile.step_phases(recipe, steps)["step"] * 1000)


def timed(threads: int, policy: str | None, beside: bool, args) -> float:
    env = {**os.environ, **({"OMP_WAIT_POLICY": policy} if policy else {})}
    env.pop("OMP_NUM_THREADS", None)
    competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR]) if beside else None
    try:
        if competitor:
            time.sleep(1)  # let it take its core
        out = subprocess.run([sys.executable, __file__, "--child", str(threads), "--steps", str(args.steps),
                              "--recipe", args.recipe], env=env, check=True, capture_output=True, text=True)
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        if competitor:
            competitor.kill()
            competitor.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--recipe", default="tetris_cpu")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.steps, args.recipe)
    sys.path.insert(0, str(Path(__file__).parent))
    from train_profile import cpu_description

    print(cpu_description().rsplit(",", 1)[0] + f", {os.cpu_count()} cores")
    settings = [(t, p) for p in (None, "PASSIVE") for t in (1, 2)]
    runs = {(t, p, b): [] for t, p in settings for b in (False, True)}
    for _ in range(args.repeats):  # interleaved, so that drifts of the machine hit every setting alike
        for key in runs:
            runs[key].append(timed(*key, args))
    speed = {key: statistics.median(values) for key, values in runs.items()}
    best_alone = max(v for (t, p, b), v in speed.items() if not b)
    print(f"{args.recipe} training step, samples/s (median of {args.repeats}); slowdown beside one busy process "
          f"against the fastest setting alone ({best_alone:.0f} samples/s):")
    for t, p in settings:
        alone, beside = speed[(t, p, False)], speed[(t, p, True)]
        print(f"  {t} thread(s), OpenMP wait policy {p or 'default'}: alone {alone:.0f}, beside {beside:.0f} "
              f"-> {best_alone / beside:.2f}x slower")


if __name__ == "__main__":
    main()
