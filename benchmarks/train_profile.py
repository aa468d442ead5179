"""Where a hyper-representation training step's time goes, against what this CPU can do.

For each CPU recipe (tetris_cpu on the tetris MLP, mnist_cpu on CNN-s and on CNN-u), on random
weight vectors of the zoo's layout and the recipe's batch:

- one training step split by phase (augmentation, tokenizing, encoder, decoder, projection and
  loss, backward, optimizer), by wall clock over many steps;
- the operators of the step (torch.profiler), the top ones by self time;
- the FLOPs of one sample (both views, forward and backward) counted by torch's FlopCounterMode,
  and the GFLOP/s the step achieves;
- the machine's roofline for this model: a float32 and a bfloat16 matrix product of the blocks'
  own shape, (batch × 2 views × tokens, d) × (d, 3d), timed in the same process.

docs/performance.md holds the figures, with the CPU model and flags printed first.

    python benchmarks/train_profile.py [--steps 20] [--threads 1] [--recipes tetris_cpu,...] [--ops 12]
"""

import argparse
import contextlib
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from hrlib.hyper import tokens as tok
from hrlib.hyper.augment import permutation_bank, two_views
from hrlib.hyper.config import get_recipe
from hrlib.hyper.losses import hyper_loss
from hrlib.hyper.models import HyperRepresentation, ModelConfig
from hrlib.hyper.train import train_step
from hrlib.zoos import architectures as arch

CASES = {"tetris_cpu": ("tetris_cpu", "tetris_mlp"), "cnn_s": ("mnist_cpu", "cnn_s"), "cnn_u": ("mnist_cpu", "cnn_u")}
PHASES = ("augment", "tokenize", "encoder", "decoder", "loss", "backward", "optimizer")


def cpu_description() -> str:
    """The CPU's model name and the flags that decide float32 and bfloat16 speed."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return (f"{name}; flags: {' '.join(f for f in wanted if f in flags) or 'none of ' + ' '.join(wanted)}; "
            f"torch {torch.__version__}, capability {torch.backends.cpu.get_cpu_capability()}, "
            f"{torch.get_num_threads()} thread(s)")


def setup(case: str):
    recipe, architecture = CASES[case]
    config = get_recipe(recipe)
    layout = arch.layout_of(architecture)
    torch.manual_seed(0)
    model = HyperRepresentation(ModelConfig(layout=layout.to_dict(), **config.model)).train()
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    bank = permutation_bank(layout, config.bank_size, torch.Generator().manual_seed(0))
    batch = torch.randn(config.batch_size, layout.n_params) * 0.1
    return config, layout, model, opt, bank, batch


def step_phases(case: str, steps: int) -> dict[str, float]:
    """Milliseconds per training step in each phase (and "step", their sum)."""
    config, layout, model, opt, bank, batch = setup(case)
    gen = torch.Generator().manual_seed(0)
    spent = dict.fromkeys(PHASES, 0.0)
    encoder, decoder = model.encoder, model.decoder
    for step in range(steps + 3):  # three warm-up steps
        marks = [time.perf_counter()]
        v1, v2 = two_views(batch, bank, config.augment, gen, train=True)
        x = torch.cat([v1, v2])
        marks.append(time.perf_counter())
        tokens = tok.tokenize(x, layout, model.config.tokens)  # what the encoder's embedding starts with
        marks.append(time.perf_counter())
        z = encoder(x)
        marks.append(time.perf_counter())
        recon = decoder(z)
        marks.append(time.perf_counter())
        n = len(v1)
        proj = model.projection(z)
        loss, _ = hyper_loss((v1, v2), ((z[:n], recon[:n], proj[:n]), (z[n:], recon[n:], proj[n:])), config.loss)
        marks.append(time.perf_counter())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        marks.append(time.perf_counter())
        opt.step()
        marks.append(time.perf_counter())
        del tokens
        if step >= 3:
            for phase, (a, b) in zip(PHASES, zip(marks, marks[1:])):
                spent[phase] += (b - a) * 1000 / steps
    # The encoder's time includes tokenizing again (its embedding gathers the tokens itself).
    spent["encoder"] -= spent["tokenize"]
    spent["step"] = sum(spent[p] for p in PHASES)
    return spent


def flops_per_sample(case: str) -> float:
    """FLOPs of one training sample: both views, forward and backward, as FlopCounterMode counts them."""
    config, layout, model, opt, bank, batch = setup(case)
    gen = torch.Generator().manual_seed(0)
    v1, v2 = two_views(batch, bank, config.augment, gen, train=True)
    with FlopCounterMode(display=False) as counter:
        z, recon, proj = model(torch.cat([v1, v2]))
        n = len(v1)
        loss, _ = hyper_loss((v1, v2), ((z[:n], recon[:n], proj[:n]), (z[n:], recon[n:], proj[n:])), config.loss)
        loss.backward()
    return counter.get_total_flops() / len(batch)


def matmul_gflops(rows: int, d: int, dtype, repeats: int = 30) -> float:
    """GFLOP/s of (rows, d) × (d, 3d) in `dtype`, the shape of the blocks' qkv product."""
    a, b = torch.randn(rows, d, dtype=dtype), torch.randn(d, 3 * d, dtype=dtype)
    for _ in range(3):
        a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * rows * d * 3 * d * repeats / (time.perf_counter() - started) / 1e9


def operators(case: str, top: int) -> str:
    """The step's operators by self CPU time (torch.profiler), the top `top` rows."""
    config, layout, model, opt, bank, batch = setup(case)
    gen = torch.Generator().manual_seed(0)

    def step():
        train_step(model, opt, two_views(batch, bank, config.augment, gen, train=True), config.loss,
                   contextlib.nullcontext())

    for _ in range(2):
        step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=36)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--recipes", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--ops", type=int, default=12, help="operator rows per recipe (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(cpu_description())
    for case in args.recipes.split(","):
        config, layout, model, *_ = setup(case)
        ms = step_phases(case, args.steps)
        flops = flops_per_sample(case)
        seq = sum(tok.token_counts(layout, model.config.tokens)) + int(model.config.compression_token)
        rows = 2 * config.batch_size * seq
        f32, bf16 = (matmul_gflops(rows, model.config.d_model, dtype) for dtype in (torch.float32, torch.bfloat16))
        samples = config.batch_size / ms["step"] * 1000
        achieved = flops * samples / 1e9
        print(f"\n== {case}: recipe {CASES[case][0]} on {CASES[case][1]} ({layout.n_params} params, {seq} tokens, "
              f"batch {config.batch_size}, d {model.config.d_model})")
        print("   ms per step: " + ", ".join(f"{p} {ms[p]:.1f}" for p in PHASES) + f"; step {ms['step']:.1f}")
        print(f"   {samples:.0f} samples/s, {flops / 1e6:.0f} MFLOP per sample: {achieved:.0f} GFLOP/s achieved; "
              f"product of the blocks' shape ({rows}, {model.config.d_model}) × ({model.config.d_model}, "
              f"{3 * model.config.d_model}): float32 {f32:.0f} GFLOP/s ({achieved / f32:.0%} reached), "
              f"bfloat16 {bf16:.0f} GFLOP/s")
        if args.ops:
            print(operators(case, args.ops))


if __name__ == "__main__":
    main()
