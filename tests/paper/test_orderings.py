"""The ablation tables in words: trade-offs, orders compared with the paper's only where they mean something."""

import pandas as pd

from hrlib.paper.orderings import PRED, REC, ranked, trade_off, trade_off_sentences


def test_a_trade_off_is_reconstruction_and_the_mean_probe_score():
    table = pd.DataFrame({"Rec": [93.5, 43.3], "Eph": [90.0, 96.0], "Acc": [80.0, 90.0]}, index=["ED", "E_cD"])
    ours = trade_off(table)
    assert ours.loc["ED", REC] == 93.5 and ours.loc["E_cD", PRED] == 93.0
    assert trade_off(None) is None


def test_orders_are_compared_only_where_this_run_is_clear_of_zero():
    paper = pd.Series({"ED": 96.1, "E_cD": 84.1, "E_c+D": 95.9})
    clear = pd.Series({"ED": 93.5, "E_cD": 43.3, "E_c+D": 92.9})
    assert ranked(clear, paper).endswith("(the same order)")
    assert "E_c+D first there" not in ranked(clear, paper)
    swapped = pd.Series({"ED": 43.3, "E_cD": 93.5, "E_c+D": 92.9})
    assert ranked(swapped, paper).endswith("(ED first there, E_cD here)")
    noise = pd.Series({"ED": 0.4, "E_cD": -0.3, "E_c+D": 0.1})  # a smoke run: every row near R² 0
    assert "no order to compare" in ranked(noise, paper) and "same order" not in ranked(noise, paper)
    assert ranked(clear) == "ED 93.5 > E_c+D 92.9 > E_cD 43.3 in this run"


def test_the_finding_names_the_best_rows_and_the_papers():
    ours = pd.DataFrame({REC: [93.5, 43.3], PRED: [85.0, 92.0]}, index=["ED", "E_cD"])
    paper = pd.DataFrame({REC: [96.1, 84.1], PRED: [70.0, 80.0]}, index=["ED", "E_cD"])
    lines, finding = trade_off_sentences(ours, paper, "loss")
    assert lines[0].startswith("Losses ranked by reconstruction: ED 93.5 > E_cD 43.3")
    assert finding == ("of the losses, the best reconstruction is ED's and the best prediction E_cD's "
                       "(paper, among the same losses: ED's and E_cD's)")
    _, near_zero = trade_off_sentences(ours * 0.01, paper, "encoder")
    assert "too close to tell" in near_zero and "paper" not in near_zero
