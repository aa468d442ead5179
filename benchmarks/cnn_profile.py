"""Where the time of the CNN population trainer goes: one training step and one evaluation pass.

Times the phases of `hrlib.zoos.population`'s step on m models with their own batches (data
indexing, forward, backward, optimizer update) and its evaluation (forward without autograd), by
wall clock over many steps, twice in one process: first as the trainer ran before it learned to
chunk (all models in one forward, the C library's default allocator), then as it runs now (models
in cache-sized chunks, freed memory kept for reuse); then lists the operators of the step with
torch.profiler. docs/performance.md holds the breakdown.

    python benchmarks/cnn_profile.py [--architecture cnn_s] [--models 32] [--batch 10] [--threads 1]
"""

import argparse
import time

import torch
import torch.nn.functional as F

from hrlib.zoos import architectures as arch
from hrlib.zoos import population
from hrlib.zoos.population import EVAL_BUDGET, _VECTOR_OPTIMIZERS, eval_chunk, model_chunks


def phases(name: str, m: int, b: int, steps: int, chunked: bool, n: int = 10000) -> dict[str, float]:
    """Milliseconds per training step spent in each phase, and per 1000 evaluated samples;
    `chunked`: in the trainer's chunks of models, else all models in one forward."""
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
    parts = model_chunks(name, m, b, "cpu") if chunked else [slice(0, m)]
    spent = dict.fromkeys(("index", "forward", "backward", "optimizer"), 0.0)
    for step in range(steps + 3):  # three warm-up steps
        started = time.perf_counter()
        idx = order[:, (step * b) % (n - b) : (step * b) % (n - b) + b]
        xb, yb = x[idx], y[idx]
        t1 = time.perf_counter()
        forward = backward = 0.0
        grad = torch.empty_like(flat)
        for part in parts:
            started_part = time.perf_counter()
            leaf = flat.detach()[part].requires_grad_()
            logits = arch.population_forward(name, leaf, xb[part], "tanh")
            loss = F.cross_entropy(logits.flatten(0, 1), yb[part].flatten(), reduction="none").view(len(leaf), -1)
            loss = loss.mean(1).sum()
            middle = time.perf_counter()
            (grad[part],) = torch.autograd.grad(loss, leaf)
            forward, backward = forward + middle - started_part, backward + time.perf_counter() - middle
        t2 = t1 + forward
        t3 = t2 + backward
        with torch.no_grad():
            opt.step(flat, grad)
        t4 = time.perf_counter()
        if step >= 3:
            for key, dt in zip(spent, (t1 - started, t2 - t1, t3 - t2, t4 - t3)):
                spent[key] += dt * 1e3 / steps
    parts = model_chunks(name, m, population.EVAL_SAMPLES, "cpu") if chunked else [slice(0, m)]
    started = time.perf_counter()
    with torch.no_grad():
        for part in parts:
            chunk = eval_chunk(name, len(range(m)[part]), EVAL_BUDGET["cpu"])
            for start in range(0, n, chunk):
                arch.population_forward(name, flat.detach()[part], x[start : start + chunk], "tanh")
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
    results = {}
    for label, chunked in (("before: one forward, default allocator", False), ("now: chunks, memory reused", True)):
        if chunked:
            population.reuse_freed_memory()  # cannot be undone in this process: measured second
        spent = results[label] = phases(args.architecture, args.models, args.batch, args.steps, chunked)
        step = sum(v for k, v in spent.items() if not k.startswith("evaluation"))
        print(f"{label}: {args.architecture}, {args.models} models × batch {args.batch}, {args.threads} thread(s): "
              f"{step:.1f} ms per step, {args.models * args.batch / step * 1e3:,.0f} training samples/s")
        for key, ms in spent.items():
            share = "" if key.startswith("evaluation") else f"  ({ms / step:5.1%})"
            print(f"  {key:28s} {ms:8.2f} ms{share}")
    (before, now) = (sum(v for k, v in r.items() if not k.startswith("evaluation")) for r in results.values())
    (eval_before, eval_now) = (r["evaluation per 1000 samples"] for r in results.values())
    print(f"speed-up: training step {before / now:.2f}x, evaluation {eval_before / eval_now:.2f}x")
    print(operators(args.architecture, args.models, args.batch))


if __name__ == "__main__":
    main()
