"""Linear probes: scikit-learn estimators that read a model characteristic off a feature set.

Each probe takes the training and validation rows together with a boolean `validation` mask, fits
one scikit-learn model per regularization value on the training rows, picks the value that scores
best on the validation rows (what GridSearchCV over a PredefinedSplit does) and keeps the model
fitted on the training rows with it; the test rows never reach `fit`.

- `RidgeProbe`: continuous targets; α from `ALPHAS` by validation R² (docs/method.md, "Probes").
- `LogisticProbe`: categorical targets; C from `CS` by validation accuracy.
- `target_kind`, `skip_reason`: which probe a target gets, and why a target cannot be scored.
- `kendall_tau`: rank agreement, the out-of-distribution score.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy.stats import kendalltau
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

ALPHAS = (1e3, 3e2, 1e2, 3e1, 1e1, 3.0, 1.0, 3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5)
CS = (1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2)

# The paper's names for the zoo's property columns, in the order its tables list them; the per-class
# F1 scores f1_c0, f1_c1, ... (F1_C0, ...) follow GGap.
TARGET_LABELS = {
    "epoch": "Eph", "test_acc": "Acc", "ggap": "GGap",
    "lr": "LR", "weight_decay": "L2", "dropout": "Drop", "train_fraction": "TF",
    "activation": "Act", "init": "Init", "optimizer": "Opt",
}
_F1 = re.compile(r"f1_c(\d+)")


def label(column: str) -> str:
    """The paper's name of a property column (Acc for test_acc); other columns keep their name."""
    f1 = _F1.fullmatch(column)
    return f"F1_C{f1[1]}" if f1 else TARGET_LABELS.get(column, column)


def default_targets(properties: pd.DataFrame) -> list[str]:
    """The paper's targets that `properties` has, in the paper's order (constant ones included)."""
    f1 = sorted((c for c in properties.columns if _F1.fullmatch(c)), key=lambda c: int(_F1.fullmatch(c)[1]))
    order = ["epoch", "test_acc", "ggap", *f1, *list(TARGET_LABELS)[3:]]
    return [c for c in order if c in properties.columns]


def target_kind(values: pd.Series) -> str:
    """'classification' for strings, categories and booleans; 'regression' for numbers."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype) \
            or pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return "classification"
    if pd.api.types.is_numeric_dtype(dtype):
        return "regression"
    raise TypeError(f"target {values.name!r} has dtype {dtype}, neither numbers nor classes")


def plain(value):
    """A numpy scalar as its Python value, so notes read 3.0, not np.float64(3.0)."""
    return value.item() if isinstance(value, np.generic) else value


def skip_reason(values: pd.Series, splits: dict[str, np.ndarray]) -> str | None:
    """Why a target cannot be probed (all missing, constant, a split without values), or None."""
    present = values.dropna()
    if present.empty:
        return "all values are missing (NaN)"
    if present.nunique() == 1:
        return f"constant ({plain(present.iloc[0])!r} in every checkpoint)"
    for name, rows in splits.items():
        part = values.iloc[rows].dropna()
        if part.empty:
            return f"no values in the {name} split"
        if name == "train" and part.nunique() == 1:
            return f"constant in the train split ({plain(part.iloc[0])!r})"
    return None


def kendall_tau(y_true, y_pred) -> float:
    """Kendall's τ-b between true and predicted values (scipy.stats.kendalltau)."""
    return float(kendalltau(y_true, y_pred).statistic)


def _check_fit(X, y, validation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y, validation = np.asarray(X), np.asarray(y), np.asarray(validation)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values")
    if validation.dtype != bool or validation.shape != (len(X),):
        raise ValueError(f"validation must be a boolean mask of length {len(X)}, got {validation.dtype} {validation.shape}")
    if validation.all() or not validation.any():
        raise ValueError("validation must mark some rows (the validation split) and leave some (the training split)")
    return X, y, validation


def _pipeline(model, standardize: bool) -> Pipeline:
    return Pipeline([("scale", StandardScaler() if standardize else "passthrough"), ("model", model)])


class RidgeProbe(RegressorMixin, BaseEstimator):
    """Ridge regression with α chosen by R² on the validation rows, then refitted on the training rows.

    The search is GridSearchCV over a PredefinedSplit written out: one scikit-learn Ridge per α fitted
    on the training rows, scored with r2_score on the validation rows. y may hold several targets as
    columns (n, t): each gets its own α (Ridge takes one α per target), at the cost of one fit per α.

    Args:
        alphas: the grid, by default {1e3, 3e2, 1e2, …, 3e-5, 1e-5} as in the authors' code.
        standardize: scale features to zero mean, unit variance (fitted on the training rows) first.

    Fitted: `alpha_` (per target when y is 2-D), `val_score_` (validation R² at `alpha_`),
    `val_scores_` (alphas × targets), `estimator_` (the refitted pipeline).
    """

    def __init__(self, alphas=ALPHAS, standardize: bool = False):
        self.alphas = alphas
        self.standardize = standardize

    def fit(self, X, y, validation):
        """Pick α on the rows where `validation` is True, refit on the others; returns self."""
        X, y, val = _check_fit(X, np.asarray(y, dtype=np.float64), validation)
        Y = y.reshape(len(y), -1)  # (n, t)
        scores = np.empty((len(self.alphas), Y.shape[1]))
        for i, alpha in enumerate(self.alphas):
            model = _pipeline(Ridge(alpha=alpha), self.standardize).fit(X[~val], Y[~val])
            scores[i] = r2_score(Y[val], model.predict(X[val]), multioutput="raw_values")
        best = scores.argmax(0)  # first of equals, as GridSearchCV ranks them
        alphas = np.asarray(self.alphas, dtype=np.float64)[best]
        self.val_scores_ = scores
        if y.ndim == 1:
            self.alpha_, self.val_score_ = float(alphas[0]), float(scores[best[0], 0])
        else:
            self.alpha_, self.val_score_ = alphas, scores[best, np.arange(Y.shape[1])]
        self.estimator_ = _pipeline(Ridge(alpha=self.alpha_), self.standardize).fit(X[~val], y[~val])
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(np.asarray(X))


class LogisticProbe(ClassifierMixin, BaseEstimator):
    """Multinomial logistic regression with C chosen by accuracy on the validation rows, refitted on train.

    Args:
        Cs: inverse regularization strengths to try.
        standardize: scale features first (on by default: lbfgs converges poorly on raw weights,
            whose scales differ by orders of magnitude between initializations).
        max_iter: lbfgs iterations.
        random_state: passed to LogisticRegression.

    Fitted: `C_`, `val_score_` (validation accuracy at `C_`), `val_scores_`, `classes_`, `estimator_`.
    """

    def __init__(self, Cs=CS, standardize: bool = True, max_iter: int = 500, random_state=0):
        self.Cs = Cs
        self.standardize = standardize
        self.max_iter = max_iter
        self.random_state = random_state

    def _model(self, C) -> Pipeline:
        return _pipeline(LogisticRegression(C=C, max_iter=self.max_iter, random_state=self.random_state),
                         self.standardize)

    def fit(self, X, y, validation):
        """Pick C on the rows where `validation` is True, refit on the others; returns self."""
        X, y, val = _check_fit(X, y, validation)
        models = [self._model(C).fit(X[~val], y[~val]) for C in self.Cs]
        self.val_scores_ = np.array([accuracy_score(y[val], m.predict(X[val])) for m in models])
        best = int(self.val_scores_.argmax())
        self.C_, self.val_score_, self.estimator_ = self.Cs[best], float(self.val_scores_[best]), models[best]
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(np.asarray(X))


def make_probe(kind: str, standardize: bool | None = None):
    """An unfitted probe for a target kind; `standardize` None keeps the probe's default."""
    options = {} if standardize is None else {"standardize": standardize}
    if kind == "regression":
        return RidgeProbe(**options)
    if kind == "classification":
        return LogisticProbe(**options)
    raise ValueError(f"kind must be 'regression' or 'classification', got {kind!r}")
