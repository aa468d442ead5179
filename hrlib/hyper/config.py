"""What decides a training run: `TrainConfig`, the named recipes, and `configure` by the paper's names."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field

from hrlib.hyper.augment import AugmentConfig
from hrlib.hyper.losses import LossConfig
from hrlib.hyper.models import ModelConfig, named_settings, upgrade_settings, whole
from hrlib.zoos.population import pick_device
from hrlib.zoos.zoo import Zoo


# Far above any useful run, and checked before any work: a mistyped --epochs 100000000 would never end
# (each epoch rewrites a state that holds the whole history), a bank of permutations takes bank size ×
# params × 4 bytes, and seeds must fit torch's and numpy's generators.
MAX_EPOCHS = 100_000
MAX_BATCH = 1_000_000
MAX_BANK = 100_000
MAX_SEED = 2**32 - 1
# "bfloat16": the forward pass under torch.autocast on a CPU with bfloat16 instructions (AVX-512 BF16 or
# AMX), float32 on one without; a CUDA device always trains under bfloat16 autocast.
PRECISIONS = ("float32", "bfloat16")


def _real(value) -> bool:
    """A finite real number (not a bool, not NaN or infinity)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run except the zoo and the device."""

    epochs: int = 50
    batch_size: int = 500
    lr: float = 1e-4
    weight_decay: float = 1e-9
    schedule: str = "plateau"  # ReduceLROnPlateau on the training loss, or "cosine" over the epochs
    plateau_factor: float = 0.3
    plateau_patience: int = 10
    seed: int = 0
    split_seed: int = 0
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train / validation / test, by model
    bank_size: int | None = None  # None: every permutation when few, else a random bank
    precision: str = "float32"  # or "bfloat16" (PRECISIONS)
    clip_norm: float | None = None  # clip the gradient's norm over all parameters to this before each step
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: dict = field(default_factory=dict)  # ModelConfig fields other than the layout

    def __post_init__(self):
        for name, words, low, high in (("epochs", "epochs (--epochs)", 1, MAX_EPOCHS),
                                       ("batch_size", "batch size (--batch-size)", 2, MAX_BATCH),
                                       ("plateau_patience", "plateau patience", 0, MAX_EPOCHS),
                                       ("seed", "seed (--seed)", 0, MAX_SEED),
                                       ("split_seed", "split seed (--split-seed)", 0, MAX_SEED)):
            object.__setattr__(self, name, whole(words, getattr(self, name), low, high))
        if self.bank_size is not None:
            object.__setattr__(self, "bank_size", whole("bank size", self.bank_size, 1, MAX_BANK))
        split = tuple(self.split_fractions)
        object.__setattr__(self, "split_fractions", split)
        rules = [  # (name, value, holds, what it must be)
            ("learning rate (--lr)", self.lr, _real(self.lr) and self.lr > 0, "a positive number"),
            ("weight decay", self.weight_decay, _real(self.weight_decay) and self.weight_decay >= 0, "0 or more"),
            ("plateau factor", self.plateau_factor, _real(self.plateau_factor) and 0 < self.plateau_factor < 1,
             "between 0 and 1"),
            ("schedule", self.schedule, self.schedule in ("plateau", "cosine"), "'plateau' or 'cosine'"),
            ("precision (--precision)", self.precision, self.precision in PRECISIONS, " or ".join(map(repr, PRECISIONS))),
            ("gradient clipping norm", self.clip_norm, self.clip_norm is None or _real(self.clip_norm) and self.clip_norm > 0,
             "a positive number or None"),
            ("split fractions (--split)", split, len(split) == 3 and all(_real(f) and f > 0 for f in split)
             and abs(sum(split) - 1) < 1e-6, "three positive fractions summing to 1"),
            ("contrast temperature", self.loss.temperature, _real(self.loss.temperature) and self.loss.temperature > 0,
             "a positive number"),
            ("noise", self.augment.noise_std, _real(self.augment.noise_std), "a finite number"),
        ]
        for name, value, holds, wanted in rules:
            if not holds:
                raise ValueError(f"{name} must be {wanted}, got {value!r}")
        known = set(ModelConfig.__dataclass_fields__) - {"layout"}  # the layout is the zoo's
        if set(self.model) - known:
            raise ValueError(f"unknown model settings {sorted(set(self.model) - known)}; known: {sorted(known)}")
        ModelConfig(layout={}, **self.model)  # the sizes are checked now, before a zoo or a run folder is opened

    def model_config(self, zoo: Zoo) -> ModelConfig:
        return ModelConfig(layout=zoo.layout.to_dict(), **self.model)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        # runs saved before the reduction was a setting summed over weights
        loss = LossConfig(**{"reduction": "sum", **d["loss"]})
        return cls(**{**d, "loss": loss, "augment": AugmentConfig(**d["augment"]),
                      "split_fractions": tuple(d.get("split_fractions", cls.split_fractions)),
                      "model": upgrade_settings(d.get("model", {}))})

    def replicate(self, replicate: int) -> "TrainConfig":
        """Replicate N of this configuration: training seed and split seed both moved on by N."""
        return self.replace(seed=self.seed + replicate, split_seed=self.split_seed + replicate)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with changes; `model`, `loss` and `augment` changes merge into the current ones."""
        for key, cls in (("loss", LossConfig), ("augment", AugmentConfig)):
            if isinstance(changes.get(key), dict):
                changes[key] = dataclasses.replace(getattr(self, key), **changes[key])
        if "model" in changes:
            changes["model"] = {**self.model, **changes["model"]}
        return dataclasses.replace(self, **changes)


# Named recipes. "cpu" sizes fit a 2-core laptop (see README for their measured time and R²);
# "paper" sizes follow the paper's text and the authors' larger settings (docs/method.md, "Models" and
# "Training") and are GPU jobs.
RECIPES = {
    # Chosen on the validation split of tetris_seed (version 2; docs/training.md, "Choosing tetris_cpu"),
    # with the reconstruction error averaged over weights. Batches of 128 train as many samples per
    # second as 256 on a CPU and leave the early plateau, where the contrastive term holds the
    # reconstruction R² near 0.08, after 2 epochs instead of 5: validation R² 0.80 at epoch 13 against
    # 0.77 at epoch 14 with 256; 20 epochs keep the wall time of the earlier recipe. Model size and
    # learning rate from version 1 of the zoo (summed error): d 64 / ff 128 reached a lower validation
    # R² in more time; dropout 0.1 or a cosine schedule did not help.
    "tetris_cpu": TrainConfig(
        epochs=20, batch_size=128, lr=1e-3, plateau_patience=4,
        model=dict(d_model=128, heads=1, blocks=2, ff=256, dropout=0.0, latent=50),
    ),
    "tetris_paper": TrainConfig(
        epochs=1000, batch_size=500, lr=1e-4,
        model=dict(d_model=128, heads=1, blocks=2, ff=512, latent=50),
    ),
    # CNN zoos on a CPU (docs/training.md, "Choosing mnist_cpu"). Each layer's weights standardized, so
    # that the averaged reconstruction error starts near 1 and weighs as much as the contrastive term;
    # neuron tokens without a compression token, so that z (700 numbers, the paper's size) is not
    # squeezed through one token of d_model = 128 numbers; no dropout and bfloat16 where the CPU has
    # it, which together train about 1.6 times as many samples per second. Without clipping the
    # gradient's norm, E_cD and E_c+D runs at this learning rate collapsed after 29 and 61 epochs
    # (validation reconstruction R² from 0.73 and 0.78 to below 0 within one epoch).
    "mnist_cpu": TrainConfig(
        epochs=100, batch_size=64, lr=1e-3, precision="bfloat16", clip_norm=1.0, loss=LossConfig(gamma=0.1),
        model=dict(d_model=128, heads=2, blocks=2, ff=256, dropout=0.0, latent=700, compression_token=False,
                   standardize=True, projection_layers=4, projection_hidden=400, projection_out=50),
    ),
    "mnist_paper": TrainConfig(
        epochs=500, batch_size=500, lr=1e-4, loss=LossConfig(gamma=0.1),
        model=dict(d_model=800, heads=4, blocks=4, ff=1000, latent=700,
                   projection_layers=4, projection_hidden=400, projection_out=50),
    ),
    "unterthiner_paper": TrainConfig(
        epochs=250, batch_size=500, lr=1e-4, loss=LossConfig(gamma=0.1),
        model=dict(d_model=512, heads=4, blocks=4, ff=1000, latent=1200,
                   projection_layers=4, projection_hidden=400, projection_out=50),
    ),
}


# Zoos whose models all start from one seed (the CNN-u zoos: one initial draw, scaled by each model's init and
# its std) share their neuron order across the zoo, and it carries information: a random permutation of a view
# hides it. On mnist_cnn_zoo at its CPU size, mnist_cpu's E_cD never left validation reconstruction R² -0.10 in
# 73 epochs (fashion_cnn_zoo's run collapsed to one z at epoch 7), while the same run with erasing alone reached
# 0.39 by epoch 4 and stayed there (PCA with z's 700 numbers: 0.59). Hence erasing only, and 20 epochs
# (docs/training.md, "Choosing cnnu_cpu").
RECIPES["cnnu_cpu"] = RECIPES["mnist_cpu"].replace(epochs=20, augment=dict(permute=False))


def get_recipe(name: str) -> TrainConfig:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown training recipe {name!r}; known: {sorted(RECIPES)}") from None


def shares_one_seed(zoo: Zoo) -> bool:
    """Whether every model of the zoo started from the same seed (its properties say so)."""
    seeds = zoo.properties.get("seed")
    return seeds is not None and zoo.n_models > 1 and seeds.nunique() == 1


def default_recipe(zoo: Zoo) -> str:
    """The CPU-sized recipe that fits a zoo's architecture: tetris_cpu for MLPs; for CNNs mnist_cpu, or
    cnnu_cpu (no permutations) where every model started from one seed."""
    if zoo.layout.n_params <= 1500:
        return "tetris_cpu"
    return "cnnu_cpu" if shares_one_seed(zoo) else "mnist_cpu"


def recipe_encoder(config: TrainConfig) -> str:
    """The paper's name of the encoder a configuration trains (Att_N+t unless its model settings say otherwise)."""
    return ModelConfig(layout={}, **config.model).name


def configure(zoo: Zoo, recipe: str = "", loss: str = "", encoder: str = "", epochs: int | None = None,
              gamma: float | None = None, augment: str = "", quick: bool = False, device="auto",
              reduction: str | None = None, **changes) -> TrainConfig:
    """A TrainConfig from a recipe and the paper's names for the loss, encoder and augmentations.

    No recipe: the CPU recipe for the zoo (`default_recipe`); for CNN zoos on a GPU, the paper's size with
    that CPU recipe's augmentations. No encoder or augmentations: the recipe's (`recipe_encoder`). `quick`
    (meant for the smoke-size zoos) keeps the recipe but trains at most 12 epochs in batches of 64, so
    that a small zoo still gets a few hundred steps.
    Other keyword arguments are TrainConfig fields (`model`: a dict of ModelConfig changes, e.g.
    dict(latent=700)).
    """
    chosen = recipe or default_recipe(zoo)
    config = get_recipe(chosen)
    if not recipe and chosen in ("mnist_cpu", "cnnu_cpu") and pick_device(device).type == "cuda" and not quick:
        config = get_recipe("mnist_paper").replace(augment=config.augment)
    if loss:
        changes["loss"] = LossConfig.named(loss, config.loss.gamma if gamma is None else gamma,
                                           reduction or config.loss.reduction)
    elif gamma is not None or reduction is not None:
        changes["loss"] = {k: v for k, v in (("gamma", gamma), ("reduction", reduction)) if v is not None}
    if augment:
        changes["augment"] = AugmentConfig.named(augment)
    # the encoder always spelled out, so that runs compare equal; other model changes on top
    changes["model"] = named_settings(encoder or recipe_encoder(config)) | changes.get("model", {})
    if epochs is not None:  # 0 is refused by TrainConfig, not read as "the recipe's"
        changes["epochs"] = epochs
    elif quick:
        changes["epochs"] = min(12, config.epochs)
    if quick:
        changes.setdefault("batch_size", 64)
    return config.replace(**changes)
