"""Where the time of the CNN population trainer goes: one training step and one evaluation pass.

Times the phases of `hrlib.zoos.population`'s step on m models with their own batches (data
indexing, forward, backward, optimizer update) and of its evaluation (forward without autograd on
large chunks, bookkeeping), by wall clock over many steps, then lists the operators that take the
time with torch.profiler. The numbers are per step and per evaluated sample; docs/performance.md
holds the breakdown before and after the changes it motivated.

    python benchmarks/cnn_profile.py [--architecture cnn_s] [--models 32] [--batch 10] [--threads 1]
"""

import argparse
import time

import torch
import torch.nn.functional as F

from hrlib.zoos import architectures as arch
from hrlib.zoos.population import EVAL_BUDGET, _VECTOR_OPTIMIZERS, eval_chunk


def phases(name: str, m: int, b: int, steps: int, n: int = 10000) -> dict[str, float]:
    """Milliseconds per training step spent in each phase, and per 1000 evaluated samples."""
    layout = arch.layout_of(name)
    gen = torch.Generator().manual_seed(0)
    flat = torch.empty(m, layout.n_params)
    for i in range(m):
        arch.init_flat_(layout, flat[i], "kaiming_uniform", gen)
    flat.requires_grad_()
    x = torch.rand(n, *arch.input_shape(name), generator=gen)
    y = torch.randint(0, arch.n_classes(name), (n,), generator=gen)
    opt = _VECTOR_OPTIMIZERS["adam"](flat.detach(), torch.full((m, 1), 3e-4), torch.zeros(m, 1))
    order = torch.stack([torch.randperm(n, generator=gen) for _ in range(m)])
    spent = dict.fromkeys(("index", "forward", "backward", "optimizer"), 0.0)
    for step in range(steps + 3):  # three warm-up steps
        started = time.perf_counter()
        idx = order[:, (step * b) % (n - b) : (step * b) % (n - b) + b]
        xb, yb = x[idx], y[idx]
        t1 = time.perf_counter()
        logits = arch.population_forward(name, flat, xb, "tanh")
        loss = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none").view(m, -1).mean(1).sum()
        t2 = time.perf_counter()
        (grad,) = torch.autograd.grad(loss, flat)
        t3 = time.perf_counter()
        with torch.no_grad():
            opt.step(flat, grad)
        t4 = time.perf_counter()
        if step >= 3:
            for key, dt in zip(spent, (t1 - started, t2 - t1, t3 - t2, t4 - t3)):
                spent[key] += dt * 1e3 / steps
    chunk = eval_chunk(name, m, EVAL_BUDGET["cpu"])
    started = time.perf_counter()
    with torch.no_grad():
        for start in range(0, n, chunk):
            arch.population_forward(name, flat.detach(), x[start : start + chunk], "tanh")
    spent["evaluation per 1000 samples"] = (time.perf_counter() - started) * 1e3 / (n / 1000)
    return spent


def operators(name: str, m: int, b: int, steps: int = 10, rows: int = 12) -> str:
    """torch.profiler's table of the operators of a few training steps, by self CPU time."""
    layout = arch.layout_of(name)
    flat = (torch.randn(m, layout.n_params) * 0.1).requires_grad_()
    x = torch.rand(m, b, *arch.input_shape(name))
    y = torch.randint(0, arch.n_classes(name), (m * b,))
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            loss = F.cross_entropy(arch.population_forward(name, flat, x, "tanh").flatten(0, 1), y)
            torch.autograd.grad(loss, flat)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architecture", default="cnn_s", choices=["cnn_s", "cnn_u"])
    parser.add_argument("--models", type=int, default=32)
    parser.add_argument("--batch", type=int, default=10, help="samples per model per step (mnist_seed: 10)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spent = phases(args.architecture, args.models, args.batch, args.steps)
    step = sum(v for k, v in spent.items() if not k.startswith("evaluation"))
    print(f"{args.architecture}: {args.models} models × batch {args.batch}, {args.threads} thread(s): "
          f"{step:.1f} ms per step, {args.models * args.batch / step * 1e3:,.0f} training samples/s")
    for key, ms in spent.items():
        share = "" if key.startswith("evaluation") else f"  ({ms / step:5.1%})"
        print(f"  {key:28s} {ms:8.2f} ms{share}")
    print(operators(args.architecture, args.models, args.batch))


if __name__ == "__main__":
    main()
