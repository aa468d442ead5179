"""CNN-s and CNN-u in the vectorized trainer: the same weights as training alone, per-model dropout,
Unterthiner's init schemes, and chunked evaluation that agrees with a direct computation."""

import functools
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from hrlib.zoos import architectures as arch
from hrlib.datasets import catalog as data
from hrlib.zoos.population import ModelSpec, _evaluate, eval_chunk, train_alone, train_population
from tests.zoos.test_population import check_population_matches_alone


def digits28(split, n):
    """scikit-learn's digits blown up to 28×28 (3× nearest, padded by 2): real images CNN-s and CNN-u take."""
    x, y = data.load("digits", split)
    x = np.pad(np.kron(x[:n], np.ones((1, 1, 3, 3), np.float32)), ((0, 0), (0, 0), (2, 2), (2, 2)))
    return x, y[:n]


TRAIN, TEST = digits28("train", 96), digits28("test", 64)


def test_cnn_s_population_equals_alone():
    # two groups (adam/tanh and sgd/relu) with mixed inits, learning rates, weight decay and a training fraction
    specs = [
        ModelSpec(seed=1, lr=1e-3),
        ModelSpec(seed=2, lr=3e-3, init="xavier_normal", weight_decay=1e-3),
        ModelSpec(seed=3, lr=1e-3, init="truncated_normal", init_std=0.1, train_fraction=0.5),
        ModelSpec(seed=4, activation="relu", optimizer="sgd", lr=1e-2, init="he_normal"),
        ModelSpec(seed=5, activation="relu", optimizer="sgd", lr=2e-2, init="kaiming_uniform", bias_init=0.0),
    ]
    check_population_matches_alone("cnn_s", specs, TRAIN, TEST, epochs=2, batch_size=16)


def test_cnn_u_population_equals_alone():
    inputs = tuple((2 * x - 1, y) for x, y in (TRAIN, TEST))  # Unterthiner's [-1, 1] scaling
    specs = [
        ModelSpec(seed=42, init=i, init_std=s, bias_init=0.0, optimizer="rmsprop", lr=lr)
        for i, s, lr in [("he_normal", 1.0, 1e-3), ("glorot_normal", 1.0, 2e-3), ("orthogonal", 1.0, 1e-3),
                         ("normal", 0.05, 1e-3), ("truncated_normal", 0.2, 5e-4)]
    ]
    # RMSprop divides by the root of a running mean of squared gradients, so the last bits in which a
    # batched and a single convolution differ (their summation order depends on the CPU's kernels)
    # grow over steps: on some CPUs a few weights of 14910 differ by 2e-5 after two epochs. A wrong
    # gradient or update differs by orders of magnitude more.
    check_population_matches_alone("cnn_u", specs, *inputs, epochs=2, batch_size=16, tolerance=1e-4)


def test_dropout_is_per_model():
    """A model without dropout trains as alone even beside models with dropout, in conv and dense layers."""
    plain, dropped = ModelSpec(seed=7, lr=3e-3), ModelSpec(seed=7, lr=3e-3, dropout=0.5)
    for name in ("cnn_s", "cnn_u"):
        result = train_population(name, [dropped, plain, dropped], TRAIN, TEST, epochs=1, batch_size=16)
        alone = train_alone(name, plain, TRAIN, epochs=1, batch_size=16)[-1]
        np.testing.assert_allclose(result.weights[1, -1], alone.numpy(), rtol=1e-5, atol=1e-5)
        assert not np.allclose(result.weights[0, -1], alone.numpy(), atol=1e-3)  # dropout changed its training
        assert not np.allclose(result.weights[0, -1], result.weights[2, -1], atol=1e-3)  # each its own masks
        assert np.isfinite(result.weights).all()


def test_evaluation_in_chunks_matches_a_direct_computation():
    layout = arch.layout_of("cnn_u")
    gen = torch.Generator().manual_seed(0)
    flat = torch.stack([arch.init_flat_(layout, torch.empty(layout.n_params), "he_normal", gen) for _ in range(3)])
    x, y = (torch.as_tensor(a) for a in TEST)
    mask = (torch.rand(3, len(y), generator=gen) < 0.5).float()  # per-model training subsets
    tiny, large = (_evaluate("cnn_u", flat, "tanh", (x, y, x, y), mask, budget=b) for b in (1, 2**30))
    assert eval_chunk("cnn_u", 3, budget=1) == 1 and eval_chunk("cnn_u", 3, budget=2**30) >= len(y)
    module = arch.build_module("cnn_u", "tanh")
    for i in range(3):
        module.load_state_dict(layout.unflatten(flat[i]))
        with torch.no_grad():
            logits = module(x)
        pred = logits.argmax(1).numpy()
        losses = torch.nn.functional.cross_entropy(logits, y, reduction="none").numpy()
        chosen = mask[i].bool().numpy()
        expected = {
            "test_acc": (pred == y.numpy()).mean(), "test_loss": losses.mean(),
            "train_acc": (pred == y.numpy())[chosen].mean(), "train_loss": losses[chosen].mean(),
        }
        f1 = f1_score(y.numpy(), pred, average=None, labels=range(10), zero_division=0)
        expected |= {f"f1_c{c}": f1[c] for c in range(10)}
        for metrics in (tiny, large):
            for name, value in expected.items():
                assert metrics[name][i] == pytest.approx(value, rel=1e-5, abs=1e-6), name


def test_largest_activation_sizes():
    assert arch.activation_size("cnn_s") == 8 * 24 * 24 and arch.activation_size("cnn_u") == 16 * 13 * 13
    assert eval_chunk("cnn_s", 100, budget=2**24) == 2**24 // (4 * 100 * 8 * 24 * 24)


def test_init_schemes():
    gen = torch.Generator().manual_seed(0)
    w = torch.empty(256, 128, 3, 3)
    fan_in, fan_out = 128 * 9, 256 * 9
    cases = {
        "he_normal": math.sqrt(2 / fan_in),
        "glorot_normal": math.sqrt(2 / (fan_in + fan_out)),
    }
    for scheme, std in cases.items():
        arch.init_weight_(w, scheme, gen)
        assert w.std().item() == pytest.approx(std, rel=0.02), scheme  # Keras rescales its truncation
        assert w.abs().max().item() <= 2 * std / 0.8796 + 1e-6
    arch.init_weight_(w, "truncated_normal", gen, std=0.05)
    assert w.abs().max().item() <= 0.1 and w.std().item() == pytest.approx(0.05 * 0.8796, rel=0.02)
    arch.init_weight_(w, "normal", gen, std=0.05)
    assert w.std().item() == pytest.approx(0.05, rel=0.02)
    bound = 0.5 / math.sqrt(fan_in)  # U(0, 1) shrunk by fan-in: non-negative, mean half the bound
    arch.init_weight_(w, "scaled_uniform", gen, std=0.5)
    assert w.min().item() >= 0 and w.max().item() <= bound and w.mean().item() == pytest.approx(bound / 2, rel=0.02)
    q = arch.init_weight_(torch.empty(16, 16, 3, 3), "orthogonal", gen).reshape(16, -1)
    torch.testing.assert_close(q @ q.T, torch.eye(16), atol=1e-5, rtol=0)
    # the flat initialisation is the module initialisation, for every scheme, bias and std
    for scheme in arch.INITS:
        a = arch.init_module_(arch.build_module("cnn_u"), scheme, torch.Generator().manual_seed(3), 0.3, 0.0)
        b = arch.init_flat_(arch.layout_of("cnn_u"), torch.empty(4970), scheme, torch.Generator().manual_seed(3), 0.3, 0.0)
        torch.testing.assert_close(arch.layout_of("cnn_u").flatten(a.state_dict()), b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="init_std"):
        ModelSpec(seed=1, init_std=0)


@pytest.mark.parametrize("name", ["cnn_s", "cnn_u"])
def test_chunks_of_models_change_nothing(name, monkeypatch):
    """The CPU trains and evaluates models in cache-sized chunks; a chunk of one model and one chunk
    of all give the same weights and metrics (the kernels' last bits aside)."""
    from hrlib.zoos import population

    specs = [ModelSpec(seed=s, lr=1e-3, init="he_normal", bias_init=0.0) for s in range(1, 6)]
    train = functools.partial(train_population, name, specs, TRAIN, TEST, epochs=2, batch_size=16)
    monkeypatch.setitem(population.CHUNK_BYTES, "cpu", 1)
    assert [len(range(5)[c]) for c in population.model_chunks(name, 5, 16, "cpu")] == [1] * 5
    alone = train()
    monkeypatch.setitem(population.CHUNK_BYTES, "cpu", 2**40)
    together = train()
    np.testing.assert_allclose(alone.weights, together.weights, rtol=1e-5, atol=1e-5)
    for metric in ("train_loss", "test_acc", "f1_c3"):
        np.testing.assert_allclose(alone.metrics[metric], together.metrics[metric], rtol=1e-5, atol=1e-5)
