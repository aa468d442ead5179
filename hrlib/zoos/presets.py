"""The preset catalogue: named zoo recipes, from the tetris MLPs to the CNN zoos of the paper.

A preset lists its models (`Preset.specs`) and how to train them; `hrlib.zoos.build.create_zoo`
trains it. `quick` gives the smoke-test size of any preset.
"""

from __future__ import annotations

import dataclasses
import itertools
import zlib
from dataclasses import dataclass, field

import numpy as np

from hrlib.datasets.toy import TETRIS_NOISE, TETRIS_SIZES
from hrlib.zoos import architectures as arch
from hrlib.zoos.population import ModelSpec

# Far beyond any zoo of the paper (86 epochs at most), and a bound that keeps a mistyped --epochs from
# allocating a checkpoint per epoch before anything else could refuse it.
MAX_EPOCHS = 10_000
OPTIONS = {"epochs": "--epochs", "shard_size": "--shard-size", "train_subset": "--train-subset"}


def _choose(name: str, what: str = "another") -> str:
    """What to do about a bad field: the `hrlib zoo create` option that sets it, where there is one."""
    return f"; choose {what} {OPTIONS[name]}" if name in OPTIONS else ""


@dataclass(frozen=True)
class Preset:
    """A zoo recipe: architecture, data, training schedule and the generating factors of its models.

    `fixed` holds the factors shared by every model; `grid` the varied ones (every combination is
    trained); `sampled` factors drawn at random, `samples` draws per grid combination, each a
    (kind, ...) tuple: ("choice", values), ("uniform", low, high) or ("loguniform", low, high).
    Each configuration gets `seeds` seeds: first_seed, first_seed + 1, ..., or drawn at random when
    `random_seeds`. `n_models` keeps a subset (the first models of a seed or sampled zoo, a seeded
    sample of a grid). `data_options` go to `hrlib.datasets.catalog.load` and into the zoo's manifest.
    `version` counts redesigns of a preset: a zoo built from an earlier design differs from the preset
    in its manifest, so it is never taken for the current one.
    """

    name: str
    architecture: str
    dataset: str
    epochs: int
    batch_size: int
    fixed: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    sampled: dict = field(default_factory=dict)
    samples: int = 1
    seeds: int = 1
    first_seed: int = 1
    random_seeds: bool = False
    n_models: int | None = None
    checkpoint_epochs: tuple[int, ...] | None = None
    data_options: dict = field(default_factory=dict)
    shard_size: int = 1000
    description: str = ""
    version: int = 1

    def __post_init__(self):
        for name in ("epochs", "batch_size", "shard_size", "samples", "seeds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1, got {getattr(self, name)}{_choose(name)}")
        if self.epochs > MAX_EPOCHS:
            raise ValueError(f"epochs must be at most {MAX_EPOCHS:,}, got {self.epochs:,}{_choose('epochs', 'fewer')}")
        if self.checkpoint_epochs is not None and (
            not self.checkpoint_epochs or min(self.checkpoint_epochs) != 0 or max(self.checkpoint_epochs) > self.epochs
        ):
            raise ValueError(f"checkpoint epochs must start at 0 and end by epoch {self.epochs}, got "
                             f"{list(self.checkpoint_epochs)}")
        subsets = {k: v for k, v in self.data_options.items() if k.endswith("_subset") and v is not None}
        for name, size in subsets.items():
            if size < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1 image, got {size}{_choose(name)}")

    def specs(self) -> list[ModelSpec]:
        configs = [dict(zip(self.grid, values)) for values in itertools.product(*self.grid.values())]
        if self.sampled:
            draws = sample_factors(self.sampled, self.samples, np.random.default_rng([hash_name(self.name), 1]))
            configs = [{**config, **draw} for config in configs for draw in draws]
        rng = np.random.default_rng(hash_name(self.name))
        first = self.first_seed
        models = []  # (config, seed); ModelSpecs are built only for the models kept
        for config in configs:
            seeds = rng.integers(1, 2**31 - 1, self.seeds) if self.random_seeds else range(first, first + self.seeds)
            models += [(config, int(s)) for s in seeds]
        if self.n_models is not None and self.n_models < len(models):
            if self.grid:
                keep = np.sort(np.random.default_rng(0).choice(len(models), self.n_models, replace=False))
                models = [models[i] for i in keep]
            else:
                models = models[: self.n_models]
        return [ModelSpec(seed=seed, **{**self.fixed, **config}) for config, seed in models]

    @property
    def checkpoints(self) -> list[int]:
        return list(range(self.epochs + 1)) if self.checkpoint_epochs is None else list(self.checkpoint_epochs)

    def override(
        self, models: int | None = None, epochs: int | None = None, train_subset: int | None = None, **changes
    ) -> "Preset":
        """A copy with fewer models, epochs or training images (checkpoint schedules shrink proportionally)."""
        if train_subset is not None:
            changes["data_options"] = {"subset_seed": 0, **self.data_options, "train_subset": train_subset}
        if models is not None:
            available = len(dataclasses.replace(self, n_models=None).specs())
            if not 1 <= models <= available:
                raise ValueError(f"{self.name} holds {available} models; models must be 1..{available}, got {models}")
            changes["n_models"] = models
        if epochs is not None:
            changes["epochs"] = epochs
            if self.checkpoint_epochs is not None:
                scaled = {round(e * epochs / self.epochs) for e in self.checkpoint_epochs}
                changes["checkpoint_epochs"] = tuple(sorted(scaled))
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def sample_factors(spec: dict, n: int, rng: np.random.Generator) -> list[dict]:
    """`n` draws of the factors in `spec` (name -> ("choice", values) | ("uniform" | "loguniform", lo, hi))."""
    columns = {}
    for name, (kind, *args) in spec.items():
        if kind == "choice":
            values = list(args[0])
            columns[name] = [values[i] for i in rng.integers(0, len(values), n)]
        elif kind in ("uniform", "loguniform"):
            low, high = args
            if kind == "loguniform":
                columns[name] = np.exp(rng.uniform(np.log(low), np.log(high), n)).tolist()
            else:
                columns[name] = rng.uniform(low, high, n).tolist()
        else:
            raise ValueError(f"factor {name!r}: unknown distribution {kind!r}; use choice, uniform or loguniform")
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


def hash_name(name: str) -> int:
    """A stable (not per-process salted) hash of a preset name, for its seed draws."""
    return zlib.crc32(name.encode())


# The tetris zoos (version 2), calibrated so that linear probes on W and s(W) score near the paper's
# columns for them (scripts/calibrate_zoo.py; docs/results.md): the data set's default design
# (200 noisy training images, 10,000 test images), the authors' "uniform" init U(0, 1) and Adam 1e-2.
# The hyper-parameter zoo trains in batches of 1 (15,000 steps in 75 epochs), so that its models at
# lr 1e-5 move from their start (4.8% of their norm, against 1.0% in batches of 16).
TETRIS = dict(architecture="tetris_mlp", dataset="tetris", epochs=75, batch_size=16, version=2,
              data_options=dict(train_size=TETRIS_SIZES["train"], test_size=TETRIS_SIZES["test"], noise=TETRIS_NOISE))
TETRIS_FIXED = dict(activation="tanh", init="uniform", optimizer="adam", lr=1e-2, weight_decay=0.0)
HYP_GRID = dict(
    activation=("tanh", "relu"),
    init=("uniform", "normal", "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform"),
    lr=(1e-3, 1e-4, 1e-5),
)
DIGITS = dict(architecture="digits_mlp", dataset="digits", epochs=50, batch_size=32)
DIGITS_FIXED = dict(activation="tanh", init="kaiming_uniform", optimizer="adam", lr=1e-3, weight_decay=0.0)

# CNN-s zoos (docs/method.md): the authors' 2022 generator trained with Adam 3e-4, batch 10, 50
# epochs, tanh, its "uniform" init U(0, 1). U(0, 1) saturates every tanh unit behind the first layer
# of CNN-s (scripts/tanh_saturation.py), so its models stay at chance whatever the learning rate. The
# seed zoos (version 2) keep its character, non-negative weights that break tanh's sign symmetry, at
# a scale that trains: U(0, 0.5/sqrt(fan_in)) with Adam 1e-3, chosen by the W and s(W) probes, VAR and
# accuracy range of candidate designs (scripts/calibrate_zoo.py; docs/results.md). Version 1 started
# from kaiming_uniform at lr 3e-4, which left W nothing to read.
CNN_S = dict(architecture="cnn_s", epochs=50, batch_size=10)
CNN_S_SEED = dict(**CNN_S, version=2, fixed=dict(
    activation="tanh", init="scaled_uniform", init_std=0.5, optimizer="adam", lr=1e-3, weight_decay=0.0))
# The authors' 2022 grid: 4 × 2 × 4 × 2 × 2 × 2 = 256 configurations; with 5 seeds, 1280 models.
CNN_S_GRID = dict(
    activation=("tanh", "relu", "sigmoid", "gelu"),
    dropout=(0.0, 0.5),
    init=("uniform", "normal", "kaiming_uniform", "kaiming_normal"),
    optimizer=("adam", "sgd"),
    lr=(1e-3, 1e-4),
    weight_decay=(1e-3, 1e-4),
)
# One seed per configuration needs about four times the configurations for "about 1000 models"
# (the paper gives every MNIST zoo about the same size): the same grid with two more learning rates
# and weight decays, 1024 configurations. The 5-seed grid is a sub-grid of it.
CNN_S_WIDE_GRID = {**CNN_S_GRID, "lr": (1e-3, 3e-4, 1e-4, 3e-5), "weight_decay": (1e-3, 1e-4, 1e-5, 0.0)}

# Unterthiner et al.'s Small CNN Zoo recipe (docs/method.md; their train_network.py): CNN-u on
# grayscale images scaled to [-1, 1], batch 512, 86 epochs, checkpoints at 0, 1, 2, 3, 20, 40, 60, 80,
# 86, one fixed seed (42), biases starting at 0. Sampled factors and ranges as in their paper.
# Differences: our SGD has momentum 0.9 (theirs: Keras' plain SGD), and weight decay is added to
# the gradient of every parameter (theirs: an l2 loss term on the kernels).
CNN_U = dict(
    architecture="cnn_u", epochs=86, batch_size=512, checkpoint_epochs=(0, 1, 2, 3, 20, 40, 60, 80, 86),
    first_seed=42, fixed=dict(bias_init=0.0), samples=30000, data_options=dict(scale="symmetric"),
)
CNN_U_SAMPLED = dict(
    activation=("choice", ("relu", "tanh")),
    init=("choice", ("he_normal", "glorot_normal", "orthogonal", "normal", "truncated_normal")),
    init_std=("loguniform", 1e-3, 0.5),
    optimizer=("choice", ("adam", "sgd", "rmsprop")),
    lr=("loguniform", 5e-4, 5e-2),
    weight_decay=("loguniform", 1e-8, 1e-2),
    dropout=("uniform", 0.0, 0.7),
    train_fraction=("choice", (0.1, 0.25, 0.5, 1.0)),
)


def _hyp(name, seeds, random_seeds, grid):
    kind = f"{seeds} {'random' if random_seeds else 'fixed'} seed{'s' if seeds > 1 else ''}"
    size = len(list(itertools.product(*grid.values())))
    return Preset(name, **CNN_S, dataset="mnist", grid=grid, seeds=seeds, random_seeds=random_seeds,
                  description=f"CNN-s on MNIST, {size}-configuration grid × {kind} per configuration")


PRESETS = {
    p.name: p
    for p in [
        Preset("tetris_seed", **TETRIS, fixed=TETRIS_FIXED, seeds=1000,
               description="tetris MLP, seeds 1-1000, fixed hyper-parameters"),
        Preset("tetris_hyp", **{**TETRIS, "batch_size": 1}, fixed=dict(optimizer="adam"), grid=HYP_GRID, seeds=100,
               description="tetris MLP, 2 activations × 6 inits × 3 learning rates × seeds 1-100"),
        Preset("digits_seed", **DIGITS, fixed=DIGITS_FIXED, seeds=1000,
               description="8×8 digits MLP, seeds 1-1000, fixed hyper-parameters"),
        Preset("digits_hyp", **DIGITS, fixed=dict(optimizer="adam"), grid=HYP_GRID, seeds=100,
               description="8×8 digits MLP, 2 activations × 6 inits × 3 learning rates × seeds 1-100"),
        Preset("mnist_seed", **CNN_S_SEED, dataset="mnist", seeds=1000,
               description="CNN-s on MNIST, seeds 1-1000, fixed hyper-parameters"),
        Preset("fashion_seed", **CNN_S_SEED, dataset="fashion_mnist", seeds=1000,
               description="CNN-s on Fashion-MNIST, seeds 1-1000, fixed hyper-parameters"),
        _hyp("mnist_hyp_1_fix_seed", 1, False, CNN_S_WIDE_GRID),
        _hyp("mnist_hyp_1_rand_seed", 1, True, CNN_S_WIDE_GRID),
        _hyp("mnist_hyp_5_fix_seed", 5, False, CNN_S_GRID),
        _hyp("mnist_hyp_5_rand_seed", 5, True, CNN_S_GRID),
        Preset("mnist_cnn_zoo", **CNN_U, dataset="mnist", sampled=CNN_U_SAMPLED,
               description="CNN-u on MNIST, Unterthiner-style: 8 factors sampled, seed 42"),
        Preset("fashion_cnn_zoo", **CNN_U, dataset="fashion_mnist", sampled=CNN_U_SAMPLED,
               description="CNN-u on Fashion-MNIST, Unterthiner-style: 8 factors sampled, seed 42"),
    ]
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {sorted(PRESETS)}") from None


def quick(preset: Preset) -> Preset:
    """The smoke-test version of a preset, built in seconds on a laptop CPU: 200 models × 20 epochs
    of the MLP zoos; 16 models × 2 epochs on 1000 training and 1000 test images of the CNN zoos."""
    if arch.layout_of(preset.architecture).n_params <= 2000:
        return preset.override(models=min(200, len(preset.specs())), epochs=min(20, preset.epochs))
    small = preset.override(models=16, epochs=min(2, preset.epochs), train_subset=1000)
    return dataclasses.replace(small, data_options={**small.data_options, "test_subset": 1000})


# The CNN zoos at the size a 2-core CPU builds in about 66-76 minutes with one torch thread, two builds
# side by side (measured, docs/zoos.md): fewer models and epochs on a seeded training subset. Shards
# of 50 / 100 models make an interrupted build lose little.
CPU_SIZES = {
    "cnn_s": dict(models=300, epochs=15, train_subset=5000, shard_size=50),
    "cnn_u": dict(models=600, epochs=10, train_subset=10000, shard_size=100),
}
SIZES = ("full", "cpu", "quick")


def sized(preset: Preset, size: str) -> Preset:
    """`preset` at one of `SIZES`: as published, the CPU size of `CPU_SIZES` (MLP presets stay whole),
    or the smoke size of `quick`."""
    if size == "full":
        return preset
    if size == "quick":
        return quick(preset)
    if size == "cpu":
        sizes = CPU_SIZES.get(preset.architecture)
        return preset if sizes is None else preset.override(**sizes)
    raise ValueError(f"size must be one of {SIZES}, got {size!r}")
