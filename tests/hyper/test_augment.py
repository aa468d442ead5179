"""Permutations leave a network's function unchanged; erasing and noise behave as specified."""

import math

import pytest
import torch

from hrlib.zoos import architectures as arch
from hrlib.hyper.augment import (
    AugmentConfig, add_noise, augment, erase, n_equivalent, permutation_bank, permute, two_views,
)


def check_same_function(name, flat, permuted, activation="tanh"):
    layout = arch.layout_of(name)
    module = arch.build_module(name, activation).eval()
    x = torch.randn(16, *arch.input_shape(name))
    outputs = []
    for vector in (flat, permuted):
        module.load_state_dict(layout.unflatten(vector))
        with torch.no_grad():
            outputs.append(module(x))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["tetris_mlp", "digits_mlp", "cnn_s", "cnn_u"])
def test_permuted_network_computes_the_same_function(name):
    layout = arch.layout_of(name)
    gen = torch.Generator().manual_seed(0)
    bank = permutation_bank(layout, size=8, generator=gen)
    flat = layout.flatten(arch.build_module(name, "relu").state_dict()).detach() + 0.1 * torch.randn(layout.n_params)
    views = permute(flat.expand(8, -1).contiguous(), bank, torch.Generator().manual_seed(1))
    changed = 0
    for view in views:
        check_same_function(name, flat, view, "relu")
        changed += not torch.equal(view, flat)
        assert torch.equal(view.sort().values, flat.sort().values)  # same weights, moved
    assert changed >= 6


def test_tetris_bank_is_exhaustive():
    layout = arch.layout_of("tetris_mlp")
    bank = permutation_bank(layout)
    assert n_equivalent(layout) == 120 == len(bank)
    assert len({tuple(row.tolist()) for row in bank}) == 120
    assert torch.equal(bank[0].long(), torch.arange(100))  # the identity comes first
    flat = torch.randn(100)
    for row in bank[::7]:
        check_same_function("tetris_mlp", flat, flat[row.long()])


def test_output_layer_never_permutes():
    layout = arch.layout_of("cnn_s")
    bank = permutation_bank(layout, size=20, generator=torch.Generator().manual_seed(0)).long()
    last = layout.bias_slice(len(layout.layers) - 1)
    assert torch.equal(bank[:, last], torch.arange(last.start, last.stop).expand(20, -1))
    assert n_equivalent(layout) == math.factorial(8) * math.factorial(6) * math.factorial(4) * math.factorial(20)


def test_erasing_stays_within_its_bounds():
    x = torch.ones(4000, 200)
    out = erase(x, p=0.5, scale=(0.03, 0.3), generator=torch.Generator().manual_seed(0))
    zeros = (out == 0).sum(1)
    hit = zeros > 0
    assert 0.45 < hit.float().mean() < 0.55
    assert zeros[hit].min() >= round(0.03 * 200) and zeros[hit].max() <= round(0.3 * 200)
    for row in out[hit][:200]:  # one contiguous block
        idx = (row == 0).nonzero().flatten()
        assert idx.max() - idx.min() + 1 == len(idx)
    assert torch.equal(x, torch.ones(4000, 200))  # the input is untouched


def test_noise_has_the_requested_scale():
    x = torch.zeros(1000, 100)
    noisy = add_noise(x, 0.05, torch.Generator().manual_seed(0))
    assert abs(noisy.std().item() - 0.05) < 0.002 and torch.equal(x, torch.zeros(1000, 100))


def test_two_views_are_independent_copies():
    layout = arch.layout_of("tetris_mlp")
    x = torch.randn(64, 100)
    original = x.clone()
    for config in (AugmentConfig(), AugmentConfig(permute=False), AugmentConfig(permute=False, erase_p=0.0)):
        a, b = two_views(x, permutation_bank(layout), config, torch.Generator().manual_seed(0))
        assert a.data_ptr() != b.data_ptr() and a.data_ptr() != x.data_ptr() and b.data_ptr() != x.data_ptr()
        a.mul_(0)  # writing to one view touches neither the other nor the input
        assert torch.equal(x, original) and not torch.equal(b, a)
    a, b = two_views(x, permutation_bank(layout), AugmentConfig(), torch.Generator().manual_seed(0))
    assert not torch.equal(a, b)  # differently augmented


def test_randomness_comes_only_from_the_generator():
    layout = arch.layout_of("tetris_mlp")
    x = torch.randn(32, 100)
    bank = permutation_bank(layout)
    config = AugmentConfig(noise_std=0.05)
    first = augment(x, bank, config, torch.Generator().manual_seed(7))
    torch.manual_seed(999)
    assert torch.equal(first, augment(x, bank, config, torch.Generator().manual_seed(7)))
    clean = augment(x, bank, config, torch.Generator().manual_seed(7), train=False)  # eval: permutation only
    assert torch.equal(clean.sort(1).values, x.sort(1).values)


def test_names_follow_the_paper():
    assert AugmentConfig().name == "P,E"
    assert AugmentConfig(permute=False, erase_p=0, noise_std=0).name == "-"
    assert AugmentConfig(noise_std=0.05).name == "P,E,N"


@pytest.mark.parametrize("name", ["tetris_mlp", "digits_mlp", "cnn_u"])
def test_sign_flips_keep_the_function_of_odd_activations(name):
    from hrlib.hyper.augment import flip_signs, sign_flips

    layout = arch.layout_of(name)
    assert arch.sign_symmetric(name, "tanh") and not arch.sign_symmetric(name, "relu")
    flat = torch.randn(layout.n_params)
    flipped = flip_signs(flat.expand(6, -1).contiguous(), sign_flips(layout), torch.Generator().manual_seed(0))
    assert not all(torch.equal(f, flat) for f in flipped)
    for view in flipped:
        check_same_function(name, flat, view, "tanh")
        assert torch.equal(view.abs(), flat.abs())
    # with relu the same flips change the function
    module = arch.build_module(name, "relu").eval()
    x = torch.randn(8, *arch.input_shape(name))
    outs = []
    for vector in (flat, flipped[0]):
        module.load_state_dict(layout.unflatten(vector))
        outs.append(module(x).detach())
    assert not torch.allclose(outs[0], outs[1], atol=1e-4)


def test_sign_flips_are_refused_where_they_change_the_function():
    assert not arch.sign_symmetric("cnn_s", "tanh")  # max-pooling is not odd
    assert AugmentConfig.named("P,E,S").sign_flip and AugmentConfig.named("P,E,S").name == "P,E,S"
