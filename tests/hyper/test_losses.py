"""The loss mix: the reconstruction term's reduction over weights, and how it is recorded in a run."""

import json

import pytest
import torch

from hrlib.hyper.config import TrainConfig, configure
from hrlib.hyper.losses import LossConfig, hyper_loss, reconstruction
from hrlib.hyper.runs import load_run
from hrlib.hyper.train import train


def test_mean_is_the_per_weight_error_and_sum_is_p_times_it():
    generator = torch.Generator().manual_seed(0)
    recon, target = torch.randn(8, 100, generator=generator), torch.randn(8, 100, generator=generator)
    mean = reconstruction(recon, target, "mean")
    torch.testing.assert_close(mean, torch.nn.functional.mse_loss(recon, target))
    torch.testing.assert_close(reconstruction(recon, target, "sum"), 100 * mean)


def test_the_reduction_changes_only_the_reconstruction_term():
    generator = torch.Generator().manual_seed(1)
    views = [torch.randn(6, 50, generator=generator) for _ in range(2)]
    outputs = [(None, torch.randn(6, 50, generator=generator), torch.randn(6, 4, generator=generator)) for _ in range(2)]
    _, mean = hyper_loss(views, outputs, LossConfig(gamma=0.5, reduction="mean"))
    _, summed = hyper_loss(views, outputs, LossConfig(gamma=0.5, reduction="sum"))
    torch.testing.assert_close(summed["mse"], 50 * mean["mse"])
    torch.testing.assert_close(summed["contrast"], mean["contrast"])
    torch.testing.assert_close(summed["loss"] - mean["loss"], 0.5 * (summed["mse"] - mean["mse"]))


def test_an_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="reduction must be one of"):
        LossConfig(reduction="max")


def test_the_reduction_is_recorded_and_old_runs_read_as_summed(tiny_zoo, tmp_path):
    config = configure(tiny_zoo, "tetris_cpu", "ED", epochs=1, reduction="sum", batch_size=32)
    assert config.loss == LossConfig(gamma=0.0, reduction="sum")
    assert configure(tiny_zoo, "tetris_cpu", "E_cD").loss.reduction == "mean"
    small = TrainConfig(epochs=1, batch_size=32, model=dict(d_model=16, heads=1, blocks=1, ff=32, latent=8,
                                                            projection_hidden=16, projection_out=8))
    train(tiny_zoo, tmp_path / "run", small.replace(loss=dict(reduction="sum")), device="cpu", progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["loss"]["reduction"] == "sum"
    del saved["train"]["loss"]["reduction"]  # as a run of an earlier hrlib, which always summed
    (tmp_path / "run" / "config.json").write_text(json.dumps(saved))
    assert load_run(tmp_path / "run").config.loss.reduction == "sum"
