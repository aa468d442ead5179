"""The vectorized trainer must train each model exactly as it would be trained alone."""

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from hrlib.zoos import architectures as arch
from hrlib.datasets import catalog as data
from hrlib.zoos.population import ModelSpec, train_alone, train_population

TETRIS = data.load("tetris", "train"), data.load("tetris", "test")
DIGITS = data.load("digits", "train"), data.load("digits", "test")


def check_population_matches_alone(architecture, specs, train, test, epochs, batch_size, tolerance=1e-5):
    result = train_population(architecture, specs, train, test, epochs=epochs, batch_size=batch_size)
    for i, spec in enumerate(specs):
        alone = torch.stack(train_alone(architecture, spec, train, epochs=epochs, batch_size=batch_size))
        assert not torch.equal(alone[0], alone[-1]), "the model did not train"
        torch.testing.assert_close(torch.as_tensor(result.weights[i]), alone, rtol=tolerance, atol=tolerance)
    return result


@pytest.mark.parametrize("optimizer,lr", [("adam", 1e-3), ("sgd", 1e-2), ("rmsprop", 1e-3)])
def test_population_equals_alone_for_each_optimizer(optimizer, lr):
    # A population mixing activations, inits, learning rates and weight decay; models 0 and 3 share
    # a group with models that differ from them, so the grouping is exercised too.
    specs = [
        ModelSpec(seed=1, optimizer=optimizer, lr=lr, activation="tanh", init="kaiming_uniform"),
        ModelSpec(seed=2, optimizer=optimizer, lr=lr * 2, activation="relu", init="xavier_normal", weight_decay=1e-3),
        ModelSpec(seed=3, optimizer=optimizer, lr=lr, activation="tanh", init="normal", weight_decay=1e-4),
        ModelSpec(seed=4, optimizer=optimizer, lr=lr / 2, activation="tanh", init="xavier_uniform"),
    ]
    check_population_matches_alone("tetris_mlp", specs, *TETRIS, epochs=3, batch_size=16)


def test_population_equals_alone_with_biases_and_training_fraction():
    specs = [ModelSpec(seed=s, lr=1e-3, train_fraction=f) for s, f in [(7, 0.5), (8, 0.5), (9, 1.0)]]
    check_population_matches_alone("digits_mlp", specs, *DIGITS, epochs=2, batch_size=32)


def test_a_model_does_not_depend_on_its_population():
    spec = ModelSpec(seed=11, lr=3e-3)
    crowd = [ModelSpec(seed=s, lr=1e-4 * s) for s in range(20, 40)]
    alone = train_population("tetris_mlp", [spec], *TETRIS, epochs=3, batch_size=16)
    among = train_population("tetris_mlp", crowd[:7] + [spec] + crowd[7:], *TETRIS, epochs=3, batch_size=16)
    np.testing.assert_allclose(among.weights[7], alone.weights[0], rtol=1e-6, atol=1e-6)


def test_metrics_match_a_direct_computation():
    specs = [ModelSpec(seed=s) for s in (1, 2)]
    result = train_population("tetris_mlp", specs, *TETRIS, epochs=2, batch_size=16)
    (x, y), (xt, yt) = TETRIS
    module = arch.build_module("tetris_mlp", "tanh")
    layout = arch.layout_of("tetris_mlp")
    for i in range(2):
        module.load_state_dict(layout.unflatten(torch.as_tensor(result.weights[i, -1])))
        with torch.no_grad():
            pred_test = module(torch.as_tensor(xt)).argmax(1).numpy()
            pred_train = module(torch.as_tensor(x)).argmax(1).numpy()
            loss = torch.nn.functional.cross_entropy(module(torch.as_tensor(xt)), torch.as_tensor(yt)).item()
        assert result.metrics["test_acc"][i, -1] == pytest.approx((pred_test == yt).mean(), abs=1e-6)
        assert result.metrics["train_acc"][i, -1] == pytest.approx((pred_train == y).mean(), abs=1e-6)
        assert result.metrics["test_loss"][i, -1] == pytest.approx(loss, rel=1e-5)
        assert result.metrics["ggap"][i, -1] == pytest.approx((pred_train == y).mean() - (pred_test == yt).mean(), abs=1e-6)
        f1 = f1_score(yt, pred_test, average=None, labels=range(4), zero_division=0)
        np.testing.assert_allclose([result.metrics[f"f1_c{c}"][i, -1] for c in range(4)], f1, atol=1e-6)


def test_checkpoints_include_epoch_zero_and_the_initialisation():
    spec = ModelSpec(seed=5, init="xavier_uniform")
    result = train_population("tetris_mlp", [spec], *TETRIS, epochs=3, batch_size=16, checkpoint_epochs=[0, 1, 3])
    assert result.epochs == [0, 1, 3] and result.weights.shape == (1, 3, 100)
    module = arch.init_module_(arch.build_module("tetris_mlp"), "xavier_uniform", torch.Generator().manual_seed(5))
    expected = arch.layout_of("tetris_mlp").flatten(module.state_dict())
    np.testing.assert_array_equal(result.weights[0, 0], expected.detach().numpy())


def test_training_from_given_weights_continues_them():
    """`start` replaces the initialization only: from a model's own epoch-1 weights, two more epochs
    (whose batches its seed orders anew) give a trained model, and from its own init the same run."""
    specs = [ModelSpec(seed=s, lr=1e-2) for s in (1, 2)]
    plain = train_population("tetris_mlp", specs, *TETRIS, epochs=2, batch_size=16)
    again = train_population("tetris_mlp", specs, *TETRIS, epochs=2, batch_size=16, start=plain.weights[:, 0])
    np.testing.assert_array_equal(again.weights, plain.weights)
    moved = train_population("tetris_mlp", specs, *TETRIS, epochs=2, batch_size=16, start=plain.weights[:, 2])
    np.testing.assert_array_equal(moved.weights[:, 0], plain.weights[:, 2])
    np.testing.assert_array_equal(moved.metrics["test_acc"][:, 0], plain.metrics["test_acc"][:, 2])
    assert not np.array_equal(moved.weights[:, 2], plain.weights[:, 2])
    with pytest.raises(ValueError, match=r"one weight vector per spec, \(2, 100\)"):
        train_population("tetris_mlp", specs, *TETRIS, epochs=1, batch_size=16, start=plain.weights[:1, 0])


def test_diverged_models_are_recorded_without_crashing():
    # relu with N(0,1) weights and an absurd learning rate overflows; the others train normally.
    specs = [ModelSpec(seed=1, lr=1e-3), ModelSpec(seed=2, activation="relu", init="normal", optimizer="sgd", lr=1e30)]
    result = train_population("tetris_mlp", specs, *TETRIS, epochs=3, batch_size=16)
    assert result.diverged[0] == -1
    assert result.diverged[1] >= 1
    assert np.isfinite(result.weights[0]).all()
    assert np.isfinite(result.metrics["test_acc"][0]).all()


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="optimizer"):
        ModelSpec(seed=1, optimizer="lbfgs")
    with pytest.raises(ValueError, match="init"):
        ModelSpec(seed=1, init="lecun_normal")
    with pytest.raises(ValueError, match="train_fraction"):
        ModelSpec(seed=1, train_fraction=0)
