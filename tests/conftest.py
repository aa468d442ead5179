import os
from pathlib import Path

import numpy as np
import pytest
import torch

# Subprocesses and notebook kernels started by the tests import this checkout's hrlib.
_ROOT = str(Path(__file__).resolve().parents[1])
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)

from hrlib.zoos.build import create_zoo
from hrlib.zoos.presets import Preset


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory):
    """A small real tetris zoo: 24 models × 6 checkpoints, trained once per test session."""
    preset = Preset(
        "tiny_tetris", "tetris_mlp", "tetris", epochs=5, batch_size=16,
        fixed=dict(activation="tanh", init="kaiming_uniform", lr=1e-2), seeds=24,
    )
    return create_zoo(preset, tmp_path_factory.mktemp("zoos") / "tiny", device="cpu", progress=False)


@pytest.fixture(scope="session")
def hyp_zoo(tmp_path_factory):
    """A small real tetris zoo with varied hyper-parameters: 2 activations × 2 learning rates × 6 seeds,
    6 checkpoints each (144 rows)."""
    preset = Preset(
        "tiny_hyp", "tetris_mlp", "tetris", epochs=5, batch_size=16, fixed=dict(init="kaiming_uniform"),
        grid=dict(activation=("tanh", "relu"), lr=(1e-2, 1e-3)), seeds=6,
    )
    return create_zoo(preset, tmp_path_factory.mktemp("zoos") / "tiny_hyp", device="cpu", progress=False)


@pytest.fixture(scope="session")
def tiny_run(tiny_zoo, tmp_path_factory):
    """A hyper-representation of `tiny_zoo`: Att_N, z of 12, E_cD, one epoch (seconds)."""
    from hrlib.cli import main

    out = tmp_path_factory.mktemp("runs") / "tiny-E_cD"
    assert main(["train", str(tiny_zoo.path), "--out", str(out), "--epochs", "1", "--arch", "Att_N", "--latent", "12",
                 "--quiet", "--device", "cpu"]) == 0
    return out
