"""Does the number of CPU threads change a hyper-representation trained with one seed?

    python scripts/thread_check.py ZOO_DIR [--epochs 2] [--threads 1 2] [--out runs/thread-check]

Trains the zoo's CPU recipe (E_cD, Att_N+t, seed 0) once per thread count, each in its own process
with OMP_NUM_THREADS and torch's intra-op threads set to that count, then compares the runs: the
first epoch whose losses differ, the largest difference of z, and the probe tables of s(W) and z
(Eph, Acc, GGap). Runs that already exist under --out are reused.

Floating-point sums are not associative: a matrix product split over two threads adds its partial
sums in another order than one thread does, the last bits of the result differ, and training
amplifies them from step to step, as it amplifies any difference in the starting point. So the
same seed on another thread count (or on a CPU with other vector instructions, which change the
order too) ends in another run of the same distribution; how far apart such runs fall is what the
spread over seeds measures.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def train_with_threads(zoo: str, out: Path, epochs: int, threads: int):
    if (out / "result.json").is_file():
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    code = ("import sys, torch; torch.set_num_threads(int(sys.argv[3])); from hrlib.cli import main; "
            "sys.exit(main(['train', sys.argv[1], '--out', sys.argv[2], '--epochs', sys.argv[4], '--quiet']))")
    subprocess.run([sys.executable, "-c", code, zoo, str(out), str(threads), str(epochs)], env=env, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default="runs/thread-check")
    args = parser.parse_args()

    from hrlib import load_zoo
    from hrlib.hyper.inference import embed
    from hrlib.hyper.runs import load_run
    from hrlib.paper.tables import table5

    zoo = load_zoo(args.zoo)
    dirs = {t: Path(args.out) / f"{Path(args.zoo).name}-e{args.epochs}-t{t}" for t in args.threads}
    for threads, out in dirs.items():
        train_with_threads(args.zoo, out, args.epochs, threads)
    runs = {t: load_run(d) for t, d in dirs.items()}
    first, *others = args.threads
    z_first = embed(runs[first], zoo)
    tables = {t: table5(zoo, {"E_cD": str(d)}, ["s(W)"], targets=["Eph", "Acc", "GGap"]).table for t, d in dirs.items()}
    print(f"{zoo.path}: E_cD, {args.epochs} epochs, seed 0, threads {args.threads}")
    for t in others:
        losses = runs[first].history.train_loss.to_numpy(), runs[t].history.train_loss.to_numpy()
        differ = np.flatnonzero(losses[0] != losses[1])
        z = embed(runs[t], zoo)
        print(f"  {first} vs {t} threads: train losses "
              + (f"first differ at epoch {differ[0] + 1} (by {abs(losses[0][differ[0]] - losses[1][differ[0]]):.2e})"
                 if differ.size else "identical")
              + f"; z: max |difference| {np.abs(z - z_first).max():.3g} (z's sd {z_first.std():.3g}); "
              f"test reconstruction R² {runs[first].result['test_r2']:.4f} vs {runs[t].result['test_r2']:.4f}")
    print(pd.concat({f"{t} thread(s)": tables[t]["E_cD"] for t in args.threads}
                    | {"s(W)": tables[first]["s(W)"]}, axis=1).round(2).to_string())


if __name__ == "__main__":
    main()
