"""Vectorized population training: m small networks trained in lockstep, one checkpoint per epoch.

A model's result depends on its `ModelSpec` alone, never on the population it was trained in:
its seed decides its initialisation and its own shuffling of the data, in this order on one
``torch.Generator(seed)``: the weights layer by layer, the training subset (when
``train_fraction < 1``), then one permutation per epoch. `train_alone` does exactly that with a
plain module and ``torch.optim``; the tests hold the two to the same weights.

Models that cannot share a kernel (different activation, optimizer or training fraction) train as
separate groups. All parameters of a group live in one flat (m, p) tensor, so each optimizer step
is one fused update for every layer of every model, with per-model learning rate and weight decay.

Shape legend: m models, n samples, b batch, p params, k classes.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import math
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from hrlib.zoos import architectures as arch

log = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "sgd", "rmsprop")
SGD_MOMENTUM = 0.9


@dataclass(frozen=True)
class ModelSpec:
    """Everything that decides one zoo member: its seed and its hyper-parameters."""

    seed: int
    activation: str = "tanh"
    init: str = "kaiming_uniform"
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    dropout: float = 0.0
    train_fraction: float = 1.0
    init_std: float = 1.0  # std of the "normal" and "truncated_normal" inits (Unterthiner's init_std)
    bias_init: float = arch.BIAS_INIT

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; known: {OPTIMIZERS}")
        if self.activation not in arch.ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; known: {sorted(arch.ACTIVATIONS)}")
        if self.init not in arch.INITS:
            raise ValueError(f"unknown init {self.init!r}; known: {arch.INITS}")
        if not 0 < self.train_fraction <= 1:
            raise ValueError(f"train_fraction must be in (0, 1], got {self.train_fraction}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")

    @property
    def group(self) -> tuple:
        """Models with equal groups share one vectorized kernel."""
        return (self.activation, self.optimizer, self.train_fraction)


FACTORS = tuple(f.name for f in fields(ModelSpec))


@dataclass
class PopulationResult:
    """weights (m, c, p) float32; metrics[name] (m, c); diverged[i] is the epoch model i broke, or -1."""

    weights: np.ndarray
    metrics: dict[str, np.ndarray]
    epochs: list[int]
    diverged: np.ndarray


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' is CUDA when present, else the CPU; a device this machine lacks is refused by name."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device {device!r}: {err}; use auto, cpu, cuda or cuda:N") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: no CUDA GPU is available here; use cpu or auto")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if chosen.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r}: hrlib runs on cpu or cuda")
    return chosen


# ---- optimizers, vectorized over models ---------------------------------------------------------
# Each mirrors torch.optim's single-tensor update (L2 weight decay added to the gradient), with
# lr and weight decay as (m, 1) columns.


class _Adam:
    def __init__(self, params, lr, weight_decay, betas=(0.9, 0.999), eps=1e-8):
        self.lr, self.wd, self.betas, self.eps = lr, weight_decay, betas, eps
        self.m = torch.zeros_like(params)
        self.v = torch.zeros_like(params)
        self.t = 0

    def step(self, params, grad):
        b1, b2 = self.betas
        self.t += 1
        grad = grad + self.wd * params
        self.m.lerp_(grad, 1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        step_size = self.lr / (1 - b1**self.t)
        denom = (self.v.sqrt() / math.sqrt(1 - b2**self.t)).add_(self.eps)
        params.sub_(step_size * self.m / denom)


class _SGD:
    def __init__(self, params, lr, weight_decay, momentum=SGD_MOMENTUM):
        self.lr, self.wd, self.momentum = lr, weight_decay, momentum
        self.buf = None

    def step(self, params, grad):
        grad = grad + self.wd * params
        self.buf = grad.clone() if self.buf is None else self.buf.mul_(self.momentum).add_(grad)
        params.sub_(self.lr * self.buf)


class _RMSprop:
    def __init__(self, params, lr, weight_decay, alpha=0.99, eps=1e-8):
        self.lr, self.wd, self.alpha, self.eps = lr, weight_decay, alpha, eps
        self.sq = torch.zeros_like(params)

    def step(self, params, grad):
        grad = grad + self.wd * params
        self.sq.mul_(self.alpha).addcmul_(grad, grad, value=1 - self.alpha)
        params.sub_(self.lr * grad / self.sq.sqrt().add_(self.eps))


_VECTOR_OPTIMIZERS = {"adam": _Adam, "sgd": _SGD, "rmsprop": _RMSprop}


def torch_optimizer(spec: ModelSpec, params) -> torch.optim.Optimizer:
    """The torch.optim optimizer a spec names, as `train_alone` uses it."""
    if spec.optimizer == "adam":
        return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
    if spec.optimizer == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=SGD_MOMENTUM, weight_decay=spec.weight_decay)
    return torch.optim.RMSprop(params, lr=spec.lr, weight_decay=spec.weight_decay)


# ---- training -------------------------------------------------------------------------------------


def metric_names(architecture: str) -> list[str]:
    """The metrics `train_population` records at each checkpoint, the generalization gap last."""
    return ["train_loss", "train_acc", "test_loss", "test_acc",
            *(f"f1_c{i}" for i in range(arch.n_classes(architecture))), "ggap"]


def _subset_size(n: int, fraction: float) -> int:
    return max(1, round(n * fraction))


def train_population(
    architecture: str,
    specs: list[ModelSpec],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    checkpoint_epochs: list[int] | None = None,
    device: str | torch.device = "cpu",
    dropout_seed: int = 0,
    progress=None,
    start: np.ndarray | None = None,
) -> PopulationResult:
    """Train every spec's model in lockstep; keep weights and metrics at each checkpoint epoch.

    `start` (m, p): weights to start from (fine-tuning) instead of each spec's initialization; the
    seed still orders the batches. `checkpoint_epochs` defaults to every epoch 0..epochs. `progress`, when given, is called with
    the number of model-epochs just finished (a group's models, once per epoch), for a progress bar.
    Models whose weights or loss become NaN or inf are marked in `diverged` and stop counting;
    the run goes on.
    """
    ckpts = list(range(epochs + 1)) if checkpoint_epochs is None else sorted(set(checkpoint_epochs))
    if ckpts[0] != 0 or ckpts[-1] > epochs:
        raise ValueError(f"checkpoint epochs must start at 0 and end by epoch {epochs}: {ckpts}")
    device = torch.device(device)
    if device.type == "cpu":
        reuse_freed_memory()
    layout = arch.layout_of(architecture)
    data = [torch.tensor(np.asarray(a), device=device) for a in (*train, *test)]
    m, c = len(specs), len(ckpts)
    if start is not None and np.shape(start) != (m, layout.n_params):
        raise ValueError(f"start must hold one weight vector per spec, ({m}, {layout.n_params}); got {np.shape(start)}")
    weights = np.zeros((m, c, layout.n_params), np.float32)
    measured = metric_names(architecture)[:-1]  # the gap is derived from two of them at the end
    metrics = {name: np.full((m, c), np.nan, np.float32) for name in measured}
    diverged = np.full(m, -1)

    groups: dict[tuple, list[int]] = {}
    for i, spec in enumerate(specs):
        groups.setdefault(spec.group, []).append(i)
    for g, (key, members) in enumerate(groups.items()):
        generator = torch.Generator(device).manual_seed(dropout_seed * 1_000_003 + g)
        w, met, div = _train_group(
            architecture, [specs[i] for i in members], data, epochs, batch_size, ckpts, device, generator, progress,
            None if start is None else np.asarray(start, np.float32)[members],
        )
        weights[members] = w
        for name in measured:
            metrics[name][members] = met[name]
        diverged[members] = div
    metrics["ggap"] = metrics["train_acc"] - metrics["test_acc"]
    return PopulationResult(weights, metrics, ckpts, diverged)


# On the CPU a step's activation maps should fit in the cache, and stay below glibc's mmap threshold
# so that freed memory is reused rather than faulted in anew at every step: models train and are
# evaluated in chunks whose largest map takes at most this many bytes. A GPU wants one big launch.
CHUNK_BYTES = {"cpu": 2**23}


def model_chunks(architecture: str, m: int, samples: int, device) -> list[slice]:
    """The models of a population in chunks whose largest activation map over `samples` inputs
    each stays within `CHUNK_BYTES` for the device (one chunk where it has no budget)."""
    budget = CHUNK_BYTES.get(torch.device(device).type)
    size = m if budget is None else max(1, budget // (4 * samples * arch.activation_size(architecture)))
    return [slice(start, min(start + size, m)) for start in range(0, m, size)]


@functools.cache
def reuse_freed_memory() -> bool:
    """Ask glibc to keep freed blocks of up to 32 MiB for reuse instead of returning them to the
    system: a training step frees and allocates the same few activation maps thousands of times, and
    each fresh mapping costs a page fault per 4 KiB when first written (measured: 44% of a CNN-s
    step on one core went to zero-filling fresh gradient maps). Affects speed only, never results;
    a no-op where the C library is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 32 * 2**20) and libc.mallopt(m_trim_threshold, 2**30))
    except (OSError, AttributeError):
        return False


def _train_group(architecture, specs, data, epochs, batch_size, ckpts, device, dropout_gen, progress, start=None):
    x_train, y_train, x_test, y_test = data
    layout = arch.layout_of(architecture)
    activation, optimizer, fraction = specs[0].group
    m, n = len(specs), len(y_train)
    gens = [torch.Generator().manual_seed(s.seed) for s in specs]

    flat = torch.empty(m, layout.n_params)
    for i, spec in enumerate(specs):  # drawn even under `start`, so that each seed orders its batches alike
        arch.init_flat_(layout, flat[i], spec.init, gens[i], spec.init_std, spec.bias_init)
    if start is not None:
        flat = torch.as_tensor(start).clone()
    subsets = None
    if fraction < 1:
        size = _subset_size(n, fraction)
        subsets = torch.stack([torch.randperm(n, generator=g)[:size] for g in gens])
    flat = flat.to(device).requires_grad_()
    lr = torch.tensor([s.lr for s in specs], device=device).unsqueeze(1)
    wd = torch.tensor([s.weight_decay for s in specs], device=device).unsqueeze(1)
    rates = torch.tensor([s.dropout for s in specs], device=device)
    opt = _VECTOR_OPTIMIZERS[optimizer](flat.detach(), lr, wd)

    weights = np.zeros((m, len(ckpts), layout.n_params), np.float32)
    metrics = {}
    diverged = np.full(m, -1)
    mask = None if subsets is None else torch.zeros(m, n, device=device).scatter_(1, subsets.to(device), 1.0)

    def checkpoint(epoch):
        j = ckpts.index(epoch)
        weights[:, j] = flat.detach().cpu().numpy()
        for name, values in _evaluate(architecture, flat.detach(), activation, data, mask).items():
            metrics.setdefault(name, np.full((m, len(ckpts)), np.nan, np.float32))[:, j] = values

    chunks = model_chunks(architecture, m, batch_size, device)
    checkpoint(0)
    for epoch in range(1, epochs + 1):
        order = torch.stack([torch.randperm(n if subsets is None else subsets.shape[1], generator=g) for g in gens])
        if subsets is not None:
            order = torch.gather(subsets, 1, order)
        order = order.to(device)
        grad = torch.empty_like(flat)
        for start in range(0, order.shape[1], batch_size):
            idx = order[:, start : start + batch_size]  # (m, b)
            for part in chunks:  # each model's gradient depends on its own weights and batch alone
                leaf = flat.detach()[part].requires_grad_()
                logits = arch.population_forward(architecture, leaf, x_train[idx[part]], activation, rates[part],
                                                 dropout_gen)
                loss = F.cross_entropy(logits.flatten(0, 1), y_train[idx[part]].flatten(), reduction="none")
                (grad[part],) = torch.autograd.grad(loss.view(len(leaf), -1).mean(1).sum(), leaf)
            with torch.no_grad():
                opt.step(flat, grad)
        with torch.no_grad():
            broken = ~torch.isfinite(flat).all(1).cpu().numpy() & (diverged < 0)
            if broken.any():
                diverged[broken] = epoch
                flat[torch.as_tensor(broken, device=device)] = 0.0  # keep the arithmetic finite
        if epoch in ckpts:
            checkpoint(epoch)
        if progress is not None:
            progress(m)
    # A model whose metrics broke before its weights did (an inf loss) also counts as diverged.
    for name in ("train_loss", "test_loss"):
        bad = ~np.isfinite(metrics[name]).all(1) & (diverged < 0)
        diverged[bad] = epochs
    return weights, metrics, diverged


# Bytes for the largest activation map of one evaluation chunk (a chunk of models at once). On the
# CPU, cache-sized chunks measured fastest: for CNN-s, 28 models × 8 images (4 MiB) took 13.6 µs per
# model-image against 16-27 µs for 16 MiB chunks of other shapes; a GPU wants big launches, and
# 1 GiB of activations is little beside its memory.
EVAL_BUDGET = {"cpu": 2**22, "cuda": 2**30}


def eval_chunk(architecture: str, m: int, budget: int) -> int:
    """Samples per evaluation chunk so that m models' largest activation map stays within `budget` bytes."""
    return max(1, budget // (4 * m * arch.activation_size(architecture)))


@torch.no_grad()
def evaluate(architecture: str, weights, activation: str, train, test, device="cpu") -> dict[str, np.ndarray]:
    """Loss, accuracy and per-class test F1 of the networks whose flat weights (m, p) are given."""
    device = pick_device(device)
    data = [torch.as_tensor(np.asarray(a)).to(device) for a in (*train, *test)]
    with torch.no_grad():
        out = _evaluate(architecture, torch.as_tensor(np.asarray(weights, dtype=np.float32)).to(device), activation, data)
    out["ggap"] = out["train_acc"] - out["test_acc"]
    return out


EVAL_SAMPLES = 16  # images per evaluation chunk that the CPU's chunks of models are sized for


def _evaluate(architecture, flat, activation, data, train_mask=None, budget=None):
    """Loss, accuracy and per-class test F1 of every model on the full train and test sets.

    Runs over chunks of models (`model_chunks`) and of samples (`eval_chunk`) and keeps only
    per-model sums, so memory stays bounded for CNNs and large shards.
    """
    parts = [_evaluate_models(architecture, flat[part], activation, data,
                              None if train_mask is None else train_mask[part], budget)
             for part in model_chunks(architecture, flat.shape[0], EVAL_SAMPLES, flat.device)]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _evaluate_models(architecture, flat, activation, data, train_mask, budget):
    x_train, y_train, x_test, y_test = data
    k = arch.n_classes(architecture)
    m = flat.shape[0]
    if budget is None:
        budget = EVAL_BUDGET.get(flat.device.type, 2**28)
    chunk = eval_chunk(architecture, m, budget)
    out = {}
    for split, x, y, mask in (("train", x_train, y_train, train_mask), ("test", x_test, y_test, None)):
        loss_sum = flat.new_zeros(m, dtype=torch.float64)
        correct_sum = flat.new_zeros(m, dtype=torch.float64)
        counts = flat.new_zeros(3, m, k)  # true positives, predicted, actual per class
        for start in range(0, len(y), chunk):
            logits = arch.population_forward(architecture, flat, x[start : start + chunk], activation)
            yb = y[start : start + chunk].expand(m, -1)
            loss = F.cross_entropy(logits.transpose(1, 2), yb, reduction="none")  # (m, chunk)
            pred = logits.argmax(-1)
            correct = (pred == yb).float()
            if mask is not None:
                w = mask[:, start : start + chunk]
                loss, correct = loss * w, correct * w
            loss_sum += loss.sum(1, dtype=torch.float64)
            correct_sum += correct.sum(1, dtype=torch.float64)
            if split == "test":
                hits = F.one_hot(torch.where(pred == yb, pred, k), k + 1)[..., :k]
                counts[0] += hits.sum(1)
                counts[1] += F.one_hot(pred, k).sum(1)
                counts[2] += F.one_hot(yb, k).sum(1)
        total = float(len(y)) if mask is None else mask.sum(1, dtype=torch.float64)
        out[f"{split}_loss"] = loss_sum / total
        out[f"{split}_acc"] = correct_sum / total
    tp, predicted, actual = counts
    denom = predicted + actual  # = 2·tp + fp + fn
    f1 = torch.where(denom > 0, 2 * tp / denom.clamp(min=1), 0.0)
    for cls in range(k):
        out[f"f1_c{cls}"] = f1[:, cls]
    return {name: v.float().cpu().numpy() for name, v in out.items()}


def train_alone(
    architecture: str,
    spec: ModelSpec,
    train: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    batch_size: int,
) -> list[torch.Tensor]:
    """Reference: one model, a plain torch module and torch.optim. Returns its flat weights per epoch.

    Its dropout draws from a fork of torch's global RNG seeded with the model's seed, so the
    caller's random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        return _train_alone(architecture, spec, train, epochs, batch_size)


def _train_alone(architecture, spec, train, epochs, batch_size) -> list[torch.Tensor]:
    layout = arch.layout_of(architecture)
    x, y = (torch.tensor(np.asarray(a)) for a in train)
    gen = torch.Generator().manual_seed(spec.seed)
    with torch.device("meta"):  # init_module_ below sets every weight
        module = arch.build_module(architecture, spec.activation, spec.dropout)
    module.to_empty(device="cpu")
    arch.init_module_(module, spec.init, gen, spec.init_std, spec.bias_init)
    indices = torch.arange(len(y))
    if spec.train_fraction < 1:
        indices = torch.randperm(len(y), generator=gen)[: _subset_size(len(y), spec.train_fraction)]
    opt = torch_optimizer(spec, module.parameters())
    snapshots = [layout.flatten(module.state_dict()).clone()]
    module.train()
    for _ in range(epochs):
        order = indices[torch.randperm(len(indices), generator=gen)]
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad()
            F.cross_entropy(module(x[idx]), y[idx]).backward()
            opt.step()
        snapshots.append(layout.flatten(module.state_dict()).clone())
    return snapshots
