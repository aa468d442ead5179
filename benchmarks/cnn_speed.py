"""CNN-s population training against a plain per-model loop, in one process, on real MNIST.

Trains the same `mnist_seed` models (CNN-s, tanh, Adam 3e-4, batch 10) both ways on a seeded,
class-stratified subset of the training images, and evaluates each at every epoch on that subset
and on the full test set, as a zoo build does:

- vectorized: `train_population` (all models in lockstep, one grouped convolution per layer);
- per-model loop: `train_alone` (a torch.nn module and torch.optim per model), then the same
  evaluation per model with large batches.

Prints both times and the ratio. ``--variants`` also times one training step (forward and
backward, batch 10 per model) of the population done five ways: hrlib's grouped convolution on
channels-last maps, the same on contiguous maps, each convolution as unfold + one batched matrix
product over the models, ``torch.func.vmap`` over the plain module, and a loop over modules; this is the measurement behind the choice in `hrlib.zoos.architectures`.
``--full-zoo`` times the whole `mnist_seed` zoo (1000 models × 50 epochs): a GPU job.

    python benchmarks/cnn_speed.py [--models 32] [--epochs 1] [--subset 10000] [--threads N] [--variants]
"""

import argparse
import tempfile
import time

import torch
import torch.nn.functional as F

from hrlib.zoos import architectures as arch
from hrlib.datasets import catalog as data
from hrlib.zoos.population import train_alone, train_population
from hrlib.zoos.build import create_zoo
from hrlib.zoos.population import pick_device
from hrlib.zoos.presets import get_preset


@torch.no_grad()
def evaluate_alone(module, x, y, batch=1000):
    """Loss and accuracy of one plain module, in large batches."""
    loss, correct = 0.0, 0
    for start in range(0, len(y), batch):
        logits = module(x[start : start + batch])
        loss += F.cross_entropy(logits, y[start : start + batch], reduction="sum").item()
        correct += (logits.argmax(1) == y[start : start + batch]).sum().item()
    return loss / len(y), correct / len(y)


def per_model_loop(specs, train, test, epochs, batch_size):
    layout = arch.layout_of("cnn_s")
    tensors = [torch.as_tensor(a) for a in (*train, *test)]
    for spec in specs:
        snapshots = train_alone("cnn_s", spec, train, epochs=epochs, batch_size=batch_size)
        module = arch.build_module("cnn_s", spec.activation).eval()
        for flat in snapshots:
            module.load_state_dict(layout.unflatten(flat))
            evaluate_alone(module, *tensors[:2])
            evaluate_alone(module, *tensors[2:])


def unfolded_forward(flat, x):
    """CNN-s logits of m models with every convolution as unfold + a batched matrix product
    (im2col): x (m, b, 1, 28, 28) -> (m, b, 10)."""
    layout = arch.layout_of("cnn_s")
    params, layer = layout.unflatten(flat), 0
    for op in arch._spec("cnn_s")["ops"]:
        if op[0] in ("conv", "linear"):
            key = layout.layers[layer].name
            w, bias = params[f"{key}.weight"], params[f"{key}.bias"]
            layer += 1
        if op[0] == "conv":
            m, b, _, h, width = x.shape
            cols = F.unfold(x.flatten(0, 1), op[3]).unflatten(0, (m, b))  # (m, b, c*k*k, positions)
            x = torch.einsum("mbkl,mok->mbol", cols, w.flatten(2)) + bias[:, None, :, None]
            x = x.unflatten(-1, (h - op[3] + 1, width - op[3] + 1))
        elif op[0] == "maxpool":
            x = F.max_pool2d(x.flatten(0, 1), op[1]).unflatten(0, x.shape[:2])
        elif op[0] == "act":
            x = torch.tanh(x)
        elif op[0] == "flatten":
            x = x.flatten(2)
        elif op[0] == "linear":
            x = torch.matmul(x, w.transpose(-1, -2)) + bias.unsqueeze(-2)
    return x


def step_variants(m, repeats=5):
    """ms per training step (forward + backward, batch 10 per model) of m CNN-s models, five ways."""
    layout = arch.layout_of("cnn_s")
    flat = (torch.randn(m, layout.n_params) * 0.1).requires_grad_()
    x, y = torch.rand(m, 10, 1, 28, 28), torch.randint(0, 10, (m * 10,))
    module = arch.build_module("cnn_s", "tanh")
    modules = [arch.build_module("cnn_s", "tanh") for _ in range(m)]

    def vmapped(flat, x):
        return torch.vmap(lambda f, xb: torch.func.functional_call(module, layout.unflatten(f), (xb,)))(flat, x)

    def contiguous(flat, x):
        keep = arch._channels_last
        arch._channels_last = lambda t: t  # the same grouped convolution, on contiguous maps
        try:
            return arch.population_forward("cnn_s", flat, x, "tanh")
        finally:
            arch._channels_last = keep

    def loop():
        for i, mod in enumerate(modules):
            mod.zero_grad()
            F.cross_entropy(mod(x[i]), y[i * 10 : (i + 1) * 10]).backward()

    def grad_of(forward):
        return lambda: torch.autograd.grad(F.cross_entropy(forward(flat, x).flatten(0, 1), y), flat)

    ways = {
        "grouped conv, channels-last (hrlib)": grad_of(lambda f, xb: arch.population_forward("cnn_s", f, xb, "tanh")),
        "grouped conv, contiguous": grad_of(contiguous),
        "unfold + batched matmul": grad_of(unfolded_forward),
        "torch.func.vmap": grad_of(vmapped),
        "loop over modules": loop,
    }
    best = {}
    for _ in range(3):  # interleaved, best of three, so that load on the machine hits all alike
        for name, step in ways.items():
            start = time.perf_counter()
            for _ in range(repeats):
                step()
            best[name] = min(best.get(name, float("inf")), (time.perf_counter() - start) / repeats * 1e3)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--subset", type=int, default=10000, help="training images (stratified subset)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--variants", action="store_true", help="also time one step five ways")
    parser.add_argument("--full-zoo", action="store_true", help="time the full mnist_seed zoo (GPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = get_preset("mnist_seed").override(models=args.models, epochs=args.epochs, train_subset=args.subset)
    specs = preset.specs()
    train = data.load("mnist", "train", **preset.data_options)
    test = data.load("mnist", "test")
    print(f"{args.models} CNN-s models × {args.epochs} epoch(s) on {len(train[1])} MNIST images, batch "
          f"{preset.batch_size}, evaluated on {len(train[1])} + {len(test[1])} images per checkpoint; "
          f"{torch.get_num_threads()} torch thread(s)")

    start = time.perf_counter()
    train_population("cnn_s", specs, train, test, epochs=args.epochs, batch_size=preset.batch_size)
    vectorized = time.perf_counter() - start
    start = time.perf_counter()
    per_model_loop(specs, train, test, args.epochs, preset.batch_size)
    loop = time.perf_counter() - start
    work = args.models * args.epochs
    print(f"  vectorized population: {vectorized:8.1f} s  ({work / vectorized:6.2f} model-epochs/s)")
    print(f"  per-model torch loop:  {loop:8.1f} s  ({work / loop:6.2f} model-epochs/s)")
    print(f"  speed-up: {loop / vectorized:.1f}x")

    if args.variants:
        print(f"one training step of {args.models} models (ms, best of 3):")
        for name, ms in step_variants(args.models).items():
            print(f"  {name:38s} {ms:8.1f}")
    if args.full_zoo:
        device = pick_device("auto")
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            create_zoo(get_preset("mnist_seed"), f"{tmp}/zoo", device=str(device))
            print(f"full mnist_seed zoo (1000 models × 50 epochs) on {device}: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
