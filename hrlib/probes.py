"""Linear probes: scikit-learn estimators that read a model characteristic off a feature set.

Each probe takes the training and validation rows together with a boolean `validation` mask, picks
its regularization on the validation rows alone (scikit-learn's GridSearchCV over a PredefinedSplit)
and refits on the training rows with the chosen value; the test rows never reach `fit`.

- `RidgeProbe`: continuous targets; α from `ALPHAS` by validation R² (REFERENCE.md §7).
- `LogisticProbe`: categorical targets; C from `CS` by validation accuracy.
- `target_kind`, `skip_reason`: which probe a target gets, and why a target cannot be scored.
- `kendall_tau`: rank agreement, the out-of-distribution score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import kendalltau
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

ALPHAS = (1e3, 3e2, 1e2, 3e1, 1e1, 3.0, 1.0, 3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5)
CS = (1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2)

# The paper's names for the zoo's property columns, in the order its tables list them.
TARGET_LABELS = {
    "epoch": "Eph", "test_acc": "Acc", "ggap": "GGap",
    **{f"f1_c{i}": f"F1_C{i}" for i in range(100)},
    "lr": "LR", "weight_decay": "L2", "dropout": "Drop", "train_fraction": "TF",
    "activation": "Act", "init": "Init", "optimizer": "Opt",
}


def label(column: str) -> str:
    """The paper's name of a property column (Acc for test_acc); other columns keep their name."""
    return TARGET_LABELS.get(column, column)


def default_targets(properties: pd.DataFrame) -> list[str]:
    """The paper's targets that `properties` has, in the paper's order (constant ones included)."""
    return [c for c in TARGET_LABELS if c in properties.columns]


def target_kind(values: pd.Series) -> str:
    """'classification' for strings, categories and booleans; 'regression' for numbers."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype) \
            or pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return "classification"
    if pd.api.types.is_numeric_dtype(dtype):
        return "regression"
    raise TypeError(f"target {values.name!r} has dtype {dtype}, neither numbers nor classes")


def _plain(value):
    """A numpy scalar as its Python value, so notes read 3.0, not np.float64(3.0)."""
    return value.item() if isinstance(value, np.generic) else value


def skip_reason(values: pd.Series, splits: dict[str, np.ndarray]) -> str | None:
    """Why a target cannot be probed (all missing, constant, a split without values), or None."""
    present = values.dropna()
    if present.empty:
        return "all values are missing (NaN)"
    if present.nunique() == 1:
        return f"constant ({_plain(present.iloc[0])!r} in every checkpoint)"
    for name, rows in splits.items():
        part = values.iloc[rows].dropna()
        if part.empty:
            return f"no values in the {name} split"
        if name == "train" and part.nunique() == 1:
            return f"constant in the train split ({_plain(part.iloc[0])!r})"
    return None


def kendall_tau(y_true, y_pred) -> float:
    """Kendall's τ-b between true and predicted values (scipy.stats.kendalltau)."""
    return float(kendalltau(y_true, y_pred).statistic)


def _validation_mask(validation, n: int) -> np.ndarray:
    validation = np.asarray(validation)
    if validation.dtype != bool or validation.shape != (n,):
        raise ValueError(f"validation must be a boolean mask of length {n}, got {validation.dtype} {validation.shape}")
    if validation.all() or not validation.any():
        raise ValueError("validation must mark some rows (the validation split) and leave some (the training split)")
    return validation


class _ValidatedProbe(BaseEstimator):
    """A pipeline whose one hyper-parameter is chosen on a predefined validation split."""

    _param = ""  # set by subclasses: the pipeline parameter searched
    _scoring = ""

    def _pipeline(self) -> Pipeline:
        raise NotImplementedError

    def _grid(self):
        raise NotImplementedError

    def _search(self, X, y, validation):
        """Pick the hyper-parameter on rows where `validation` is True, refit on the other rows."""
        X = np.asarray(X)
        y = np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values")
        val = _validation_mask(validation, len(X))
        search = GridSearchCV(
            self._pipeline(), {f"model__{self._param}": list(self._grid())}, scoring=self._scoring,
            cv=PredefinedSplit(np.where(val, 0, -1)), refit=False, error_score="raise",
        ).fit(X, y)
        best = search.best_params_[f"model__{self._param}"]
        self.cv_results_ = search.cv_results_
        self.val_score_ = float(search.best_score_)
        self.estimator_ = clone(self._pipeline()).set_params(**{f"model__{self._param}": best}).fit(X[~val], y[~val])
        self.n_features_in_ = X.shape[1]
        return best

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(np.asarray(X))


class RidgeProbe(RegressorMixin, _ValidatedProbe):
    """Ridge regression with α chosen by R² on the validation rows.

    Args:
        alphas: the grid, by default {1e3, 3e2, 1e2, …, 3e-5, 1e-5} as in the authors' code.
        standardize: scale features to zero mean, unit variance (fitted on the training rows) first.

    Fitted: `alpha_`, `val_score_` (validation R² at `alpha_`), `cv_results_`, `estimator_`.
    """

    _param, _scoring = "alpha", "r2"

    def __init__(self, alphas=ALPHAS, standardize: bool = False):
        self.alphas = alphas
        self.standardize = standardize

    def _pipeline(self):
        return Pipeline([("scale", StandardScaler() if self.standardize else "passthrough"), ("model", Ridge())])

    def _grid(self):
        return self.alphas

    def fit(self, X, y, validation):
        y = np.asarray(y, dtype=np.float64)
        self.alpha_ = self._search(X, y, validation)
        return self


class LogisticProbe(ClassifierMixin, _ValidatedProbe):
    """Multinomial logistic regression with C chosen by accuracy on the validation rows.

    Args:
        Cs: inverse regularization strengths to try.
        standardize: scale features first (on by default: lbfgs converges poorly on raw weights,
            whose scales differ by orders of magnitude between initializations).
        max_iter: lbfgs iterations.
        random_state: passed to LogisticRegression.

    Fitted: `C_`, `val_score_` (validation accuracy at `C_`), `classes_`, `cv_results_`, `estimator_`.
    """

    _param, _scoring = "C", "accuracy"

    def __init__(self, Cs=CS, standardize: bool = True, max_iter: int = 500, random_state=0):
        self.Cs = Cs
        self.standardize = standardize
        self.max_iter = max_iter
        self.random_state = random_state

    def _pipeline(self):
        model = LogisticRegression(max_iter=self.max_iter, random_state=self.random_state)
        return Pipeline([("scale", StandardScaler() if self.standardize else "passthrough"), ("model", model)])

    def _grid(self):
        return self.Cs

    def fit(self, X, y, validation):
        self.C_ = self._search(X, y, validation)
        self.classes_ = self.estimator_.classes_
        return self


def make_probe(kind: str, standardize: bool | None = None):
    """An unfitted probe for a target kind; `standardize` None keeps the probe's default."""
    options = {} if standardize is None else {"standardize": standardize}
    if kind == "regression":
        return RidgeProbe(**options)
    if kind == "classification":
        return LogisticProbe(**options)
    raise ValueError(f"kind must be 'regression' or 'classification', got {kind!r}")
