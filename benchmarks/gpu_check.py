"""GPU check: zoo building and hyper-representation training at GPU size, measured in one run.

Four steps, each timed and written to OUT/gpu_check.json the moment it ends (a run cut short keeps
what it measured), then a table with the ratio of every rate to the CPU figures in --compare:

1. zoo tetris_seed: 1000 models × 75 epochs (the full preset);
2. zoo mnist_seed: all 1000 models for one epoch on all 60,000 images; then, from that epoch's
   time, as many epochs (at most 50) as fit in --zoo-budget seconds, a second build: "as much of
   the full zoo as fits";
3. hyper-representation on the tetris zoo, recipe tetris_paper, --tetris-epochs epochs;
4. hyper-representation on the MNIST zoo of step 2, recipe mnist_paper, --mnist-epochs epochs.

Rates: models/s and model-epochs/s; samples/s (zoos: training images through one model per second,
so a subset run compares with a full one; hyper-representations: training checkpoints per second,
the median over epochs after the first); peak GPU memory (torch.cuda.max_memory_allocated) per step.

--cpu runs the same steps at CPU size, on one torch thread: 200 tetris models; 16 MNIST models for
one epoch on a seeded 6,000 / 1,000 image train / test subset (the full sets' 6:1, so evaluation
weighs the same per image); the paper-size models for one or two epochs on those small zoos. The
GPU's one-epoch MNIST build against this one is the like-for-like ratio.
Its output, recorded in benchmarks/gpu_check_cpu.json, is the default --compare.

The GPU machine cannot download MNIST: stage it first, into a folder that travels with the run:

    python benchmarks/gpu_check.py --stage-data runs/gpu_data      # here: gzipped IDX files, ~12 MB
    PYTHONPATH=. HRLIB_DATA=runs/gpu_data python3 benchmarks/gpu_check.py --out OUT   # there
    OMP_NUM_THREADS=1 python benchmarks/gpu_check.py --cpu --out runs/gpu_check_cpu  # CPU figures
"""

import argparse
import gzip
import json
import math
import os
import shutil
import statistics
import tempfile
import time
import traceback
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
FULL_MNIST_TRAIN = 60000


def stage_data(target: Path):
    """Copy MNIST's four IDX files, gzipped, from wherever hrlib finds them into target/mnist."""
    from hrlib.datasets import idx as mnist

    out = target / "mnist"
    out.mkdir(parents=True, exist_ok=True)
    for split, files in mnist.FILES.items():
        directory, found, looked, problems = mnist.locate("mnist", split)
        if found is None:
            raise SystemExit(f"MNIST {split} not found (looked in {looked}); run `make data` first")
        for name in files:
            source = next(p for p in (directory / name, directory / f"{name}.gz") if p.exists())
            with open(out / f"{name}.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
                f.write(mnist.read_bytes(source))
    print(f"staged MNIST in {out} ({sum(p.stat().st_size for p in out.iterdir()) / 2**20:.1f} MiB)")


class Recorder:
    """Collects each step's figures and rewrites OUT/gpu_check.json after every step."""

    def __init__(self, out: Path, device: torch.device, mode: str):
        self.path = out / "gpu_check.json"
        out.mkdir(parents=True, exist_ok=True)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
        self.data = {"mode": mode, "device": name, "torch": torch.__version__, "cpus": os.cpu_count(),
                     "date": time.strftime("%Y-%m-%d %H:%M"), "load_average_at_start": os.getloadavg()[0],
                     "steps": {}}
        self.began = time.perf_counter()

    def attempt(self, name: str, work):
        """Run one step, `work() -> (result, figures)`; record its figures, or its error and go on."""
        try:
            result, figures = work()
        except Exception as err:  # one broken step must not cost the others' figures on a rare GPU
            traceback.print_exc()
            result, figures = None, {"error": f"{type(err).__name__}: {err}"}
        self.step(name, figures)
        return result

    def step(self, name: str, figures: dict):
        figures["elapsed_s"] = round(time.perf_counter() - self.began, 1)
        figures["load_average"] = os.getloadavg()[0]  # other work on the machine slows the CPU figures
        self.data["steps"][name] = figures
        self.path.write_text(json.dumps(self.data, indent=1))
        print(f"[{figures['elapsed_s']:7.1f} s] {name}: " + ", ".join(f"{k} {v}" for k, v in figures.items()
                                                                       if k not in ("elapsed_s", "load_average")), flush=True)


def reset_memory(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 3) if device.type == "cuda" else None


def build_zoo(preset, out: Path, device) -> tuple:
    """Build a zoo; its time and figures."""
    from hrlib.zoos.build import create_zoo, load_data

    n_train = len(load_data(preset)[0][1])
    reset_memory(device)
    start = time.perf_counter()
    zoo = create_zoo(preset, out, device=str(device), progress=False)
    seconds = time.perf_counter() - start
    m, e = len(preset.specs()), preset.epochs
    return zoo, {
        "models": m, "epochs": e, "train_images": n_train, "seconds": round(seconds, 2),
        "models_per_s": round(m / seconds, 3), "model_epochs_per_s": round(m * e / seconds, 3),
        "samples_per_s": round(m * e * n_train / seconds), "gpu_memory_gib": peak_memory(device),
    }


def train_hr(zoo, recipe: str, epochs: int, out: Path, device) -> tuple[None, dict]:
    """Train a hyper-representation for a fixed number of epochs; its throughput."""
    from hrlib.hyper.config import get_recipe
    from hrlib.hyper.train import train

    config = get_recipe(recipe).replace(epochs=epochs)
    reset_memory(device)
    start = time.perf_counter()
    run = train(zoo, out, config, device=str(device), progress=False)
    seconds = time.perf_counter() - start
    rates = list(run.history.samples_per_s)
    rate = statistics.median(rates[1:] if len(rates) > 1 else rates)  # the first epoch warms up
    train_rows = len(zoo.split().train) * zoo.weights.shape[1]
    return None, {
        "recipe": recipe, "zoo": repr(zoo), "train_samples": train_rows, "epochs": epochs,
        "seconds": round(seconds, 2), "seconds_per_epoch": round(seconds / epochs, 2),
        "samples_per_s": round(rate, 1), "test_r2": round(run.result["test_r2"], 4),
        "gpu_memory_gib": peak_memory(device),
    }


def run(args):
    from hrlib.zoos.population import pick_device
    from hrlib.zoos.presets import get_preset

    device = pick_device("cpu" if args.cpu else args.device)
    if args.cpu:
        torch.set_num_threads(args.threads)
    rec = Recorder(Path(args.out), device, "cpu" if args.cpu else "gpu")
    print(f"gpu_check on {rec.data['device']} (torch {torch.__version__})", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    try:
        tetris = get_preset("tetris_seed").override(models=args.tetris_models)
        tetris_zoo = rec.attempt("zoo_tetris_seed", lambda: build_zoo(tetris, scratch / "tetris", device))

        mnist = get_preset("mnist_seed").override(models=args.mnist_models, epochs=1)
        if args.mnist_subset:  # keep the full sets' 6:1 train:test ratio, so evaluation weighs the same per image
            subsets = {"train_subset": args.mnist_subset, "test_subset": args.mnist_subset // 6, "subset_seed": 0}
            mnist = mnist.override(data_options=subsets)
        mnist_zoo = rec.attempt("zoo_mnist_seed_1_epoch", lambda: build_zoo(mnist, scratch / "mnist_1", device))
        first = rec.data["steps"]["zoo_mnist_seed_1_epoch"].get("seconds")
        epochs = 0 if first is None else min(50, math.floor((args.zoo_budget - first) / first))
        if epochs >= 2:
            more = rec.attempt("zoo_mnist_seed", lambda: build_zoo(mnist.override(epochs=epochs), scratch / "mnist", device))
            mnist_zoo = more or mnist_zoo
            figures = rec.data["steps"]["zoo_mnist_seed"]
            if more is not None and not args.mnist_subset:
                figures["full_zoo_hours_at_this_rate"] = round(1000 * 50 / figures["model_epochs_per_s"] / 3600, 2)

        if tetris_zoo is not None:
            rec.attempt("hr_tetris_paper", lambda: train_hr(tetris_zoo, "tetris_paper", args.tetris_epochs,
                                                            scratch / "hr_tetris", device))
        if mnist_zoo is not None:
            rec.attempt("hr_mnist_paper", lambda: train_hr(mnist_zoo, "mnist_paper", args.mnist_epochs,
                                                           scratch / "hr_mnist", device))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    compare(rec, Path(args.compare))


def compare(rec: Recorder, baseline: Path):
    """Print every rate beside the baseline's and their ratio; store the ratios too."""
    if not baseline.is_file() or rec.data["mode"] == "cpu":
        return
    base = json.loads(baseline.read_text())
    print(f"\nratio to {base['device']} ({baseline}):")
    print(f"{'step':26s} {'rate':20s} {'here':>12s} {'baseline':>12s} {'ratio':>8s}")
    ratios = {}
    for step, figures in rec.data["steps"].items():
        other = base["steps"].get(step) or base["steps"].get(f"{step}_1_epoch")
        if other is None:
            continue
        for rate in ("samples_per_s", "model_epochs_per_s"):
            if step.startswith("zoo_mnist") and rate == "model_epochs_per_s":
                continue  # the CPU epochs run on a subset; per image is the comparable rate
            if figures.get(rate) and other.get(rate):
                ratio = figures[rate] / other[rate]
                ratios[f"{step}.{rate}"] = round(ratio, 1)
                print(f"{step:26s} {rate:20s} {figures[rate]:12,.1f} {other[rate]:12,.1f} {ratio:8.1f}")
    rec.data["ratios_to_baseline"] = {"baseline": base["device"], **ratios}
    rec.path.write_text(json.dumps(rec.data, indent=1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/gpu_check", help="folder for gpu_check.json")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cpu", action="store_true", help="the CPU-size run whose figures the GPU run compares to")
    parser.add_argument("--threads", type=int, default=1, help="--cpu: torch threads")
    parser.add_argument("--zoo-budget", type=float, help="seconds for the MNIST zoo builds (default 240; --cpu: 0)")
    parser.add_argument("--tetris-models", type=int, help="default 1000 (--cpu: 200)")
    parser.add_argument("--mnist-models", type=int, help="default 1000 (--cpu: 16)")
    parser.add_argument("--mnist-subset", type=int, help="train on N images, test on N/6 (default: all; --cpu: 6000)")
    parser.add_argument("--tetris-epochs", type=int, help="hyper-representation epochs (default 10; --cpu: 1)")
    parser.add_argument("--mnist-epochs", type=int, help="hyper-representation epochs (default 10; --cpu: 2)")
    parser.add_argument("--compare", default=str(HERE / "gpu_check_cpu.json"), help="CPU figures to compare to")
    parser.add_argument("--stage-data", metavar="DIR", help="only copy MNIST (gzipped) into DIR/mnist and stop")
    args = parser.parse_args()
    if args.stage_data:
        return stage_data(Path(args.stage_data))
    defaults = dict(zoo_budget=(0, 240), tetris_models=(200, 1000), mnist_models=(16, 1000),
                    mnist_subset=(6000, None), tetris_epochs=(1, 10), mnist_epochs=(2, 10))
    for name, (cpu, gpu) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, cpu if args.cpu else gpu)
    if not args.cpu and not torch.cuda.is_available() and args.device == "auto":
        print("no CUDA device here: this runs the GPU sizes on the CPU (use --cpu for the CPU-size run)", flush=True)
    run(args)


if __name__ == "__main__":
    main()
