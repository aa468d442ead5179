"""What the ablation tables (the paper's Tables 1 and 2) say in words: each setting's trade-off
between reconstruction and prediction, and whether this run orders the settings as the paper does.

    ours, paper = trade_off(results), trade_off(published)
    lines, finding = trade_off_sentences(ours, paper, "loss")

An order is compared only where it means something: where every row of this run reconstructs (or
predicts) within `MEANINGFUL` points of R² 0, e.g. a short smoke run, the rows are noise around
zero and no order is read from them.
"""

from __future__ import annotations

import pandas as pd

REC, PRED = "reconstruction: test R² of the weights", "prediction: mean test R² of the probes on z"
PLURAL = {"loss": "losses", "encoder": "encoders"}
MEANINGFUL = 10.0  # points of R²: a best row below this is too close to 0 to order the rows


def trade_off(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """The two scores a row of an ablation table trades off: reconstruction (its Rec column) and the
    mean of its probe scores (every other column), in %."""
    if table is None:
        return None
    return pd.DataFrame({REC: table["Rec"], PRED: table.drop(columns="Rec").mean(axis=1)})


def ranked(here: pd.Series, there: pd.Series | None = None) -> str:
    """"A 93.5 > B 43.3 in this run", then the paper's order of the same rows and whether it agrees;
    no comparison where this run's best row is within MEANINGFUL points of R² 0."""
    here = here.dropna().sort_values(ascending=False)
    text = " > ".join(f"{row} {value:.1f}" for row, value in here.items()) + " in this run"
    if there is None:
        return text
    there = there.reindex(here.index).dropna().sort_values(ascending=False)
    text += "; " + " > ".join(f"{row} {value:.1f}" for row, value in there.items()) + " in the paper"
    if here.abs().max() < MEANINGFUL:
        return text + f" (every row here is within {MEANINGFUL:.0f} points of R² 0: no order to compare)"
    agree = ("the same order" if list(here.index) == list(there.index) else
             "the same first, another order below it" if here.index[0] == there.index[0] else
             f"{there.index[0]} first there, {here.index[0]} here")
    return text + f" ({agree})"


def trade_off_sentences(ours: pd.DataFrame, paper: pd.DataFrame | None, setting: str) -> tuple[list[str], str]:
    """Markdown lines ranking the settings (`setting`: "loss" or "encoder") by reconstruction and by
    prediction, and the finding a notebook's result repeats: which reconstructs and which predicts best."""
    paper = None if paper is None else paper.reindex(ours.index)
    lines = [f"{PLURAL[setting].capitalize()} ranked by {what}: "
             f"{ranked(ours[column], None if paper is None else paper[column])}."
             for what, column in (("reconstruction", REC), ("prediction", PRED))]
    finding = (f"of the {PLURAL[setting]}, the best reconstruction is {ours[REC].idxmax()}'s and the best prediction "
               f"{ours[PRED].idxmax()}'s")
    if ours.abs().max().max() < MEANINGFUL:
        finding += f" (every score within {MEANINGFUL:.0f} points of 0: too close to tell)"
    elif paper is not None:
        finding += f" (paper, among the same {PLURAL[setting]}: {paper[REC].idxmax()}'s and {paper[PRED].idxmax()}'s)"
    return lines, finding
