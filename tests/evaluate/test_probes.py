"""Probes: planted signals are recovered, α and C are the ones a direct scikit-learn search picks,
bad validation masks are refused, target kinds follow dtypes, Kendall's τ is scipy's."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hrlib.evaluate.probes import ALPHAS, CS, LogisticProbe, RidgeProbe, kendall_tau, skip_reason, target_kind


def check_regression_data(n_train=60, n_val=200, n_test=200, k=40, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_train + n_val + n_test, k))
    y = X @ rng.normal(size=k) * 0.3 + noise * rng.normal(size=len(X))
    return (X[:n_train], y[:n_train]), (X[n_train:n_train + n_val], y[n_train:n_train + n_val]), \
        (X[n_train + n_val:], y[n_train + n_val:])


def check_fit(probe, train, val):
    X = np.concatenate([train[0], val[0]])
    y = np.concatenate([train[1], val[1]])
    return probe.fit(X, y, np.arange(len(X)) >= len(train[0]))


def test_ridge_recovers_a_planted_linear_signal():
    train, val, test = check_regression_data(n_train=300, noise=0.1)
    probe = check_fit(RidgeProbe(), train, val)
    assert probe.score(*test) > 0.9


def test_ridge_alpha_matches_a_direct_grid_search():
    train, val, test = check_regression_data()
    probe = check_fit(RidgeProbe(), train, val)
    val_r2 = [r2_score(val[1], Ridge(alpha=a).fit(*train).predict(val[0])) for a in ALPHAS]
    assert probe.alpha_ == ALPHAS[int(np.argmax(val_r2))]
    assert ALPHAS[0] > probe.alpha_ > ALPHAS[-1]  # the data make the choice a real one
    assert probe.val_score_ == pytest.approx(max(val_r2))
    np.testing.assert_allclose(probe.predict(test[0]), Ridge(alpha=probe.alpha_).fit(*train).predict(test[0]))
    X = np.concatenate([train[0], val[0]])
    search = GridSearchCV(Ridge(), {"alpha": list(ALPHAS)}, scoring="r2", refit=False,
                          cv=PredefinedSplit(np.where(np.arange(len(X)) >= len(train[0]), 0, -1)))
    assert search.fit(X, np.concatenate([train[1], val[1]])).best_params_["alpha"] == probe.alpha_
    scaled = check_fit(RidgeProbe(standardize=True), train, val)
    direct = [r2_score(val[1], make_pipeline(StandardScaler(), Ridge(alpha=a)).fit(*train).predict(val[0]))
              for a in ALPHAS]
    assert scaled.alpha_ == ALPHAS[int(np.argmax(direct))]


def test_several_targets_in_one_ridge_fit_each_get_their_own_alpha():
    (X_tr, y1_tr), (X_val, y1_val), (X_te, _) = check_regression_data(seed=1)
    rng = np.random.default_rng(5)
    y2 = 5 * np.concatenate([X_tr, X_val])[:, 0] + rng.normal(size=len(X_tr) + len(X_val)) * 0.1  # easy: small α
    Y_tr, Y_val = np.c_[y1_tr, y2[:len(X_tr)]], np.c_[y1_val, y2[len(X_tr):]]
    joint = check_fit(RidgeProbe(), (X_tr, Y_tr), (X_val, Y_val))
    alone = [check_fit(RidgeProbe(), (X_tr, Y_tr[:, j]), (X_val, Y_val[:, j])) for j in range(2)]
    np.testing.assert_array_equal(joint.alpha_, [p.alpha_ for p in alone])
    assert joint.alpha_[0] != joint.alpha_[1]
    np.testing.assert_allclose(joint.predict(X_te), np.c_[alone[0].predict(X_te), alone[1].predict(X_te)], atol=1e-8)


def test_logistic_c_matches_a_direct_grid_search():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 12))
    y = np.array(["a", "b", "c"])[np.argmax(X[:, :3] + 1.5 * rng.normal(size=(500, 3)), axis=1)]
    train, val = (X[:150], y[:150]), (X[150:], y[150:])
    probe = check_fit(LogisticProbe(), train, val)
    acc = [accuracy_score(val[1], make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500, random_state=0))
                          .fit(*train).predict(val[0])) for c in CS]
    assert probe.C_ == CS[int(np.argmax(acc))]
    assert list(probe.classes_) == ["a", "b", "c"] and probe.score(*val) == pytest.approx(max(acc))


def test_probe_rejects_bad_validation_masks():
    train, val, _ = check_regression_data()
    X, y = np.concatenate([train[0], val[0]]), np.concatenate([train[1], val[1]])
    for mask in (np.ones(len(X), bool), np.zeros(len(X), bool), np.ones(3, bool), (np.arange(len(X)) > 5).astype(int)):
        with pytest.raises(ValueError, match="validation"):
            RidgeProbe().fit(X, y, mask)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RidgeProbe().fit(X, y, np.arange(len(X)) >= len(train[0]))


def test_target_kind_follows_dtype():
    assert target_kind(pd.Series([1, 2, 3])) == "regression"
    assert target_kind(pd.Series([0.1, np.nan])) == "regression"
    assert target_kind(pd.Series(["relu", "tanh"])) == "classification"
    assert target_kind(pd.Series(["a", "b"], dtype="category")) == "classification"
    assert target_kind(pd.Series([True, False])) == "classification"
    with pytest.raises(TypeError, match="neither"):
        target_kind(pd.Series(pd.to_datetime(["2021-01-01"])))
    splits = {"train": np.array([0, 1]), "val": np.array([2]), "test": np.array([3])}
    assert skip_reason(pd.Series([1.0, 2.0, 3.0, 4.0]), splits) is None
    assert "train split" in skip_reason(pd.Series([1.0, 1.0, 3.0, 4.0]), splits)
    assert "test split" in skip_reason(pd.Series([1.0, 2.0, 3.0, np.nan]), splits)


def test_kendall_tau_is_scipys():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 200), rng.normal(size=200)  # with ties
    assert kendall_tau(a, b) == kendalltau(a, b).statistic
