"""NFN predictors: converted checkpoints are the networks' own tensors, hrlib's permutations are NFN's symmetry
(and a broken permutation is not), a planted signal is learned, training resumes to the uninterrupted result,
and a missing extra or an unsupported architecture is named."""

import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from hrlib.errors import MissingExtra
from hrlib.evaluate.peers import InvariantNFN, NFNConfig, NFNPredictor, missing, train_nfn, unsupported, \
    weight_space_features
from hrlib.evaluate.tables import RANK_SPLIT, rank_checkpoints
from hrlib.hyper.augment import permutation_bank, permutation_index, permute
from hrlib.zoos.architectures import GlobalAvgPool, build_module, init_module_, layout_of
from hrlib.zoos.layout import Layout
from hrlib.zoos.zoo import Zoo

# pip install 'hrlib[peers]' (make installs it): without it every test but the last is skipped, as Ray's are
needs_nfn = pytest.mark.skipif(missing() is not None, reason="the NFN predictors need the peers extra")
TINY = NFNConfig(channels=(4, 4), head_width=16, epochs=3, batch_size=8)


def cifar_cnn() -> nn.Sequential:
    """The Small CNN Zoo's CIFAR-10 network: three 3×3 convolutions of stride 2 on 3 channels, global pooling, a
    linear layer; no hrlib architecture has its layout, as an imported CIFAR zoo has none."""
    return nn.Sequential(nn.Conv2d(3, 16, 3, 2), nn.ReLU(), nn.Conv2d(16, 16, 3, 2), nn.ReLU(), nn.Conv2d(16, 16, 3, 2),
                         nn.ReLU(), GlobalAvgPool(), nn.Linear(16, 10))


MODULES = {name: (lambda name=name: build_module(name)) for name in ("tetris_mlp", "digits_mlp", "cnn_u")}
MODULES["small_cnn_zoo_cifar"] = cifar_cnn


def random_module(name: str, seed: int = 0):
    module = MODULES[name]()
    init_module_(module, "kaiming_uniform", torch.Generator().manual_seed(seed), bias=0.0)
    with torch.no_grad():  # biases of their own, so that a misplaced one shows
        for p in module.parameters():
            if p.dim() == 1:
                p.uniform_(-1, 1, generator=torch.Generator().manual_seed(seed + p.numel()))
    return module


@needs_nfn
@pytest.mark.parametrize("name", MODULES)
def test_a_converted_checkpoint_holds_the_modules_own_tensors(name):
    from nfn.common import state_dict_to_tensors

    module = random_module(name)
    layout = Layout.of_module(module)
    assert unsupported(layout) is None
    state = module.state_dict()
    flat = torch.stack([layout.flatten(state), torch.zeros(layout.n_params)])  # a batch of two
    features = weight_space_features(layout, flat)
    assert len(features) == len(layout.layers)
    for (weight, bias), layer in zip(features, layout.layers):
        assert weight.shape == (2, 1, *layer.shape) and bias.shape == (2, 1, layer.units_out)
        torch.testing.assert_close(weight[0, 0], state[f"{layer.name}.weight"], rtol=0, atol=0)
        expected = state.get(f"{layer.name}.bias", torch.zeros(layer.units_out))  # tetris has none: zeros
        torch.testing.assert_close(bias[0, 0], expected, rtol=0, atol=0)
        assert not weight[1].any() and not bias[1].any()
    if all(layer.bias for layer in layout.layers):  # NFN's own converter reads the same tensors
        weights, biases = state_dict_to_tensors(state)
        for ours, theirs in zip(features.weights + features.biases, weights + biases):
            torch.testing.assert_close(ours[0], theirs, rtol=0, atol=0)


@needs_nfn
def test_cnn_s_is_refused_for_its_flattened_map():
    reason = unsupported(layout_of("cnn_s"))
    assert "flattened spatial map" in reason and "channel-permutation symmetry" in reason
    with pytest.raises(ValueError, match="breaks the channel-permutation symmetry NFN's layers assume"):
        weight_space_features(layout_of("cnn_s"), torch.zeros(1, layout_of("cnn_s").n_params))
    with pytest.raises(ValueError, match="conv → flatten"):
        InvariantNFN(layout_of("cnn_s"), TINY)


def broken_permutation(layout: Layout, generator) -> torch.Tensor:
    """hrlib's permutation of the first layer's units, with the second layer's inputs (the outgoing weights of
    those units) left where they were: not a symmetry of the network."""
    units = layout.layers[0].units_out
    perm = torch.roll(torch.arange(units), 1)[torch.randperm(units, generator=generator)]
    index = permutation_index(layout, {0: perm})
    index[layout.weight_slice(1)] = torch.arange(layout.weight_slice(1).start, layout.weight_slice(1).stop)
    return index


def check_outputs(module, flat_a, flat_b, layout, x) -> bool:
    """Whether the networks of two flat vectors compute the same function on x."""
    outs = []
    for flat in (flat_a, flat_b):
        module.load_state_dict(layout.unflatten(flat))
        outs.append(module(x))
    return torch.allclose(*outs, atol=1e-5)


@needs_nfn
@pytest.mark.parametrize("mode", ["HNP", "NP"])
@pytest.mark.parametrize("name", MODULES)
def test_hrlib_permutations_are_nfn_symmetries_and_a_broken_one_is_not(name, mode):
    module = random_module(name)
    layout = Layout.of_module(module)
    gen = torch.Generator().manual_seed(1)
    flat = torch.stack([layout.flatten(random_module(name, seed).state_dict()) for seed in range(4)]).detach()
    torch.manual_seed(0)
    model = InvariantNFN(layout, NFNConfig(mode=mode, channels=(8, 8), head_width=32)).eval()
    model.fit_standardization(flat)
    permuted = permute(flat, permutation_bank(layout, 8, gen), gen)
    broken = flat[:, broken_permutation(layout, gen)]
    assert not torch.equal(permuted, flat)
    with torch.no_grad():
        torch.testing.assert_close(model(permuted), model(flat), rtol=1e-4, atol=1e-5)  # the predicted logit
        ours, theirs, wrong = model.invariant(flat), model.invariant(permuted), model.invariant(broken)
    torch.testing.assert_close(theirs, ours, rtol=1e-4, atol=1e-5)  # the pooled vector the head reads
    assert (wrong - ours).abs().max() > 100 * max((theirs - ours).abs().max(), 1e-6)
    # the same two rearrangements, read as networks: one computes the same function, the other does not
    x = torch.randn(5, *({"tetris_mlp": (1, 4, 4), "digits_mlp": (1, 8, 8)}.get(name) or
                         ((3, 32, 32) if name == "small_cnn_zoo_cifar" else (1, 28, 28))))
    with torch.no_grad():
        assert check_outputs(module, flat[0], permuted[0], layout, x)
        assert not check_outputs(module, flat[0], broken[0], layout, x)


def planted_zoo(models: int = 120, seed: int = 0) -> Zoo:
    """Random tetris networks whose 'test accuracy' is a smooth function of their first layer's mean weight,
    a quantity NFN's pooling reads off directly."""
    rng = np.random.default_rng(seed)
    layout = layout_of("tetris_mlp")
    weights = rng.normal(0, 1, (models, 1, layout.n_params)).astype(np.float32)
    weights[:, 0, layout.weight_slice(0)] += rng.normal(0, 0.5, (models, 1))
    first = weights[:, 0, layout.weight_slice(0)].mean(1)
    acc = 1 / (1 + np.exp(-4 * first))
    props = pd.DataFrame({"model": np.arange(models), "epoch": 5, "test_acc": acc})
    return Zoo(weights, props, layout, {"architecture": "tetris_mlp", "epochs": [5]})


@needs_nfn
def test_an_nfn_learns_a_planted_signal_through_the_ranking_benchmark(tmp_path):
    zoo = planted_zoo()
    split = zoo.split(RANK_SPLIT)
    config = NFNConfig(channels=(8, 8), head_width=64, epochs=30, batch_size=16, lr=3e-3)
    predictor = NFNPredictor(tmp_path / "hnp", config, device="cpu", progress=False)
    ranked = rank_checkpoints(zoo, {}, [], split=split, predictors={"NFN_HNP": predictor})
    row = ranked.loc[("NFN_HNP", "")]
    assert row.n_test == len(split.test) and row.n_fit == len(split.train) + len(split.val)
    assert row.tau > 0.6, ranked
    assert row.seconds == pytest.approx(predictor.history_["seconds"].sum())
    history = pd.read_csv(tmp_path / "hnp" / "history.csv")
    assert list(history.epoch) == list(range(1, 31))
    assert predictor.best_epoch_ == history.epoch[history.val_tau.idxmax()]  # chosen by validation τ


def tiny_data(zoo, split):
    last = zoo.properties.groupby("model").epoch.idxmax()
    rows = {s: last.loc[split[s]].to_numpy() for s in ("train", "val")}
    flat = zoo.weights.reshape(-1, zoo.layout.n_params)
    return [x for s in ("train", "val") for x in (flat[rows[s]], zoo.properties.test_acc.to_numpy()[rows[s]])]


@needs_nfn
def test_training_resumes_to_the_uninterrupted_result(tiny_zoo, tmp_path):
    data = tiny_data(tiny_zoo, tiny_zoo.split(RANK_SPLIT))
    whole, whole_history = train_nfn(tiny_zoo.layout, *data, tmp_path / "whole", TINY, "cpu", progress=False)
    train_nfn(tiny_zoo.layout, *data, tmp_path / "split", replace(TINY, epochs=1), "cpu",
              progress=False)  # "interrupted" after one epoch
    resumed, history = train_nfn(tiny_zoo.layout, *data, tmp_path / "split", TINY, "cpu", progress=False)
    columns = ["epoch", "train_loss", "val_loss", "val_tau", "val_r2"]
    pd.testing.assert_frame_equal(whole_history[columns], history[columns])
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()))
    assert sorted(p.name for p in (tmp_path / "split").iterdir()) == [".hrlib", "best.pt", "config.json",
                                                                    "history.csv", "state.pt"]
    # a rerun of a finished predictor trains nothing more and gives the same model
    again, _ = train_nfn(tiny_zoo.layout, *data, tmp_path / "split", TINY, "cpu", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), again.state_dict().values()))


@needs_nfn
def test_a_folder_of_other_data_or_settings_is_refused(tiny_zoo, tmp_path):
    data = tiny_data(tiny_zoo, tiny_zoo.split(RANK_SPLIT))
    train_nfn(tiny_zoo.layout, *data, tmp_path / "nfn", TINY, "cpu", progress=False)
    with pytest.raises(ValueError, match="a different configuration"):
        train_nfn(tiny_zoo.layout, *data, tmp_path / "nfn", replace(TINY, lr=1e-2), "cpu",
                  progress=False)
    other = tiny_data(tiny_zoo, tiny_zoo.split(RANK_SPLIT, seed=1))
    with pytest.raises(ValueError, match="trained on other checkpoints or targets"):
        train_nfn(tiny_zoo.layout, *other, tmp_path / "nfn", TINY, "cpu", progress=False)
    with pytest.raises(ValueError, match="more than the 2 asked for"):
        train_nfn(tiny_zoo.layout, *data, tmp_path / "nfn", replace(TINY, epochs=2), "cpu",
                  progress=False)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(OSError, match="a folder hrlib did not write"):
        train_nfn(tiny_zoo.layout, *data, tmp_path / "mine", TINY, "cpu", progress=False)
    percent = [data[0], 100 * data[1], data[2], data[3]]
    with pytest.raises(ValueError, match=r"fractions in \[0, 1\]"):
        train_nfn(tiny_zoo.layout, *percent, tmp_path / "percent", TINY, "cpu", progress=False)


def test_a_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "nfn", None)  # as if nfn were not installed
    assert "pip install 'hrlib[peers]'" in missing()
    with pytest.raises(MissingExtra, match=r"an NFN predictor \(NFN_NP, NFN_HNP\) needs the nfn package.*"
                                           r"pip install 'hrlib\[peers\]'"):
        InvariantNFN(layout_of("tetris_mlp"), TINY)
