"""The layout is the one description of parameters: its round trips are exact."""

import pytest
import torch
from torch import nn

from hrlib.zoos import architectures as arch
from hrlib.zoos.layout import Layer, Layout


@pytest.mark.parametrize("name", sorted(arch.ARCHITECTURES))
def test_state_dict_round_trip_is_exact(name):
    module = arch.build_module(name)
    layout = arch.layout_of(name)
    flat = layout.flatten(module.state_dict())
    assert flat.shape == (layout.n_params,)
    back = layout.unflatten(flat)
    assert list(back) == list(module.state_dict())
    for key, value in module.state_dict().items():
        assert torch.equal(back[key], value)
    # and flat -> state_dict -> flat for an arbitrary vector, batched
    x = torch.randn(3, 2, layout.n_params)
    assert torch.equal(layout.flatten(layout.unflatten(x)), x)


def test_parameter_counts_match_the_paper():
    counts = {name: arch.layout_of(name).n_params for name in ("tetris_mlp", "cnn_s", "cnn_u")}
    assert counts == {"tetris_mlp": 100, "cnn_s": 2464, "cnn_u": 4970}


def test_flat_order_is_weight_then_bias_per_layer():
    module = arch.build_module("cnn_s")
    layout = arch.layout_of("cnn_s")
    flat = layout.flatten(module.state_dict())
    expected = torch.cat([p.detach().flatten() for p in module.parameters()])
    assert torch.equal(flat, expected)


def test_conv_to_linear_block_structure():
    layout = arch.layout_of("cnn_s")
    dense = layout.layers[3]
    assert (dense.kind, dense.in_block, dense.units_in) == ("linear", 9, 4)
    gap_dense = arch.layout_of("cnn_u").layers[-1]
    assert (gap_dense.in_block, gap_dense.units_in) == (1, 16)


def test_serialisation_round_trip():
    layout = arch.layout_of("cnn_u")
    assert Layout.from_dict(layout.to_dict()) == layout


def test_mismatches_are_named():
    layout = arch.layout_of("tetris_mlp")
    state = arch.build_module("tetris_mlp").state_dict()
    with pytest.raises(KeyError, match="missing"):
        layout.flatten({k: v for k, v in state.items() if k != next(iter(state))})
    bad = dict(state)
    key = next(iter(bad))
    bad[key] = torch.zeros(3, 3)
    with pytest.raises(ValueError, match="shape"):
        layout.flatten(bad)
    with pytest.raises(ValueError, match="expects"):
        Layout([Layer("a", "linear", (5, 16), False), Layer("b", "linear", (4, 6), False)])
    with pytest.raises(ValueError, match="parameters hrlib cannot lay out"):
        Layout.of_module(nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3)))


@pytest.mark.parametrize("name", sorted(arch.ARCHITECTURES))
def test_a_state_dict_shows_its_layout(name):
    state = arch.build_module(name).state_dict()
    assert Layout.of_state_dict(state) == arch.layout_of(name)
    renamed = {f"module_list.{k}": v for k, v in state.items()}  # other names, same structure
    inferred = Layout.of_state_dict(renamed)
    assert inferred != arch.layout_of(name) and inferred.same_structure(arch.layout_of(name))
    assert arch.find_architecture(inferred) == name


def test_state_dicts_hrlib_cannot_lay_out_are_named():
    bn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).state_dict()
    with pytest.raises(ValueError, match="'1.running_mean' is not a layer's weight or bias"):
        Layout.of_state_dict(bn)
    with pytest.raises(ValueError, match="neither a Linear"):
        Layout.of_state_dict({"a.weight": torch.zeros(2, 3, 4)})
    with pytest.raises(ValueError, match="has a.bias but no a.weight"):
        Layout.of_state_dict({"a.bias": torch.zeros(2)})
    assert arch.find_architecture(Layout.of_state_dict({"a.weight": torch.zeros(7, 3)})) is None
