"""`hrlib probe` and `hrlib reproduce`: tables on disk, clear errors, results.md sections rewritten in place."""

import numpy as np
import pandas as pd
import pytest

from hrlib.cli import main


def test_probe_writes_the_table(tiny_zoo, tmp_path, capsys):
    out, preds = tmp_path / "table.csv", tmp_path / "preds.csv.gz"
    assert main(["probe", str(tiny_zoo.path), "--features", "W,sW", "--targets", "Eph,Acc,Act",
                 "--out", str(out), "--predictions", str(preds)]) == 0
    table = pd.read_csv(out, index_col="target")
    assert list(table.columns) == ["metric", "W", "s(W)"] and list(table.index) == ["Eph", "Acc"]
    assert (table.metric == "R2").all() and table.loc["Eph", "s(W)"] > 50
    printed = capsys.readouterr().out
    assert "note: Act (activation): constant ('tanh' in every checkpoint); skipped, not scored" in printed
    assert set(pd.read_csv(preds).feature) == {"W", "s(W)"}


def test_probe_errors(tiny_zoo, tmp_path, capsys):
    assert main(["probe", str(tiny_zoo.path), "--features", "W,nope", "--out", str(tmp_path / "t.csv")]) == 2
    assert "unknown feature sets ['nope']" in capsys.readouterr().err
    assert main(["probe", str(tiny_zoo.path), "--features", "W", "--targets", "accuracy", "--out",
                 str(tmp_path / "t.csv")]) == 2
    assert "unknown target 'accuracy'" in capsys.readouterr().err


def test_probe_with_a_trained_run_and_the_ablation_table(tiny_zoo, tmp_path, capsys):
    from hrlib.hyper.config import TrainConfig
    from hrlib.hyper.inference import embed, reconstruction_r2
    from hrlib.hyper.runs import load_run
    from hrlib.hyper.train import train

    config = TrainConfig(epochs=2, batch_size=32, lr=1e-3, model=dict(d_model=16, ff=32, latent=8, projection_hidden=16,
                                                                     projection_out=8))
    train(tiny_zoo, tmp_path / "run", config, device="cpu", progress=False)
    out = tmp_path / "t.csv"
    assert main(["probe", str(tiny_zoo.path), "--run", f"E_cD={tmp_path / 'run'}", "--features", "sW",
                 "--targets", "Eph,Acc", "--out", str(out)]) == 0
    table = pd.read_csv(out, index_col="target")
    assert list(table.columns) == ["metric", "s(W)", "E_cD"] and table["E_cD"].notna().all()
    # the z the table was computed from is the run's embedding of the zoo
    from hrlib.evaluate.tables import evaluate_probes
    from hrlib.evaluate.features import given

    direct = evaluate_probes(tiny_zoo, {"E_cD": given(embed(load_run(tmp_path / "run"), tiny_zoo), tiny_zoo)}, ["Eph", "Acc"])
    assert direct.table["E_cD"].round(2).tolist() == table["E_cD"].tolist()
    assert main(["probe", str(tiny_zoo.path), "--run", f"x={tmp_path / 'missing'}", "--out", str(out)]) == 2
    assert "missing" in capsys.readouterr().err
    # the Rec column is the test split's reconstruction R²
    from hrlib.paper.tables import ablation

    rec = ablation(tiny_zoo, {"E_cD": str(tmp_path / "run")}, targets=("Eph",))
    split = tiny_zoo.split(seed=0)
    assert rec.loc["E_cD", "Rec"] == pytest.approx(100 * reconstruction_r2(tmp_path / "run", tiny_zoo, split.test))
    assert rec.loc["E_cD", "Rec"] == pytest.approx(100 * load_run(tmp_path / "run").result["test_r2"], abs=1e-3)
    # the same row through the CLI, into a results section titled as the paper's table
    results = tmp_path / "results.md"
    assert main(["reproduce", "table1", str(tiny_zoo.path), "--run", f"E_cD={tmp_path / 'run'}",
                 "--results", str(results)]) == 0
    text = results.read_text()
    assert "### Table 1 on tiny_tetris: reconstruction R² and probe scores" in text
    assert f"| E_cD | {rec.loc['E_cD', 'Rec']:.1f} |" in text


def test_reproduce_rewrites_its_own_section(tiny_zoo, tmp_path, capsys):
    results = tmp_path / "docs" / "results.md"
    args = ["reproduce", "table5", str(tiny_zoo.path), "--features", "W,s(W)", "--paper", "tetris_seed",
            "--results", str(results)]
    assert main(args) == 0
    assert main(args) == 0
    text = results.read_text()
    assert text.count("<!-- BEGIN table5:tetris_seed -->") == 1 and text.startswith("# Results")
    assert "Command: `hrlib reproduce table5" in text and "| Eph |" in text and "(96.4)" in text  # paper's s(W)
    assert "%; paper in parentheses\n" in text
    assert "- Act (activation): constant" in text
    other = tmp_path / "other"
    assert main(["zoo", "create", "tetris_seed", "--out", str(other), "--models", "14", "--epochs", "3", "--quiet"]) == 0
    for target in ("Acc", "ggap"):  # another target gets a section of its own; the paper's keeps the plain key
        assert main(["reproduce", "table7", str(tiny_zoo.path), str(other), "--target", target,
                     "--results", str(results)]) == 0
    text = results.read_text()
    for key, target in (("table7:tiny_tetris-tetris_seed:Acc", "Acc"), ("table7:tiny_tetris-tetris_seed", "ggap")):
        assert f"<!-- BEGIN {key} -->" in text  # two pairs' tables are told apart by their titles too
        assert f"### Table 7 ({target}) between tiny_tetris and tetris_seed: Kendall's τ" in text
    assert "<!-- BEGIN table5:tetris_seed -->" in text
    assert "| tiny_tetris |" in text and "tetris_seed s(W)" in text
    assert main(["reproduce", "table7", str(tiny_zoo.path), str(other), "--target", "Acc", "--seeds", "2",
                 "--results", str(results)]) == 0
    section = results.read_text().split("<!-- BEGIN table7:tiny_tetris-tetris_seed:Acc -->")[1].split("<!-- END")[0]
    assert " ± " in section and "|\n\n- 2 replicates" in section  # the note is not read as the table's last row
    assert "Bold" not in section  # Table 7 marks no winners


def test_a_title_claims_the_paper_only_beside_its_numbers_and_far_negative_scores_get_a_note(tiny_zoo, tmp_path,
                                                                                             capsys):
    import numpy as np

    from hrlib.evaluate.tables import extrapolation_note
    from hrlib.zoos.zoo import Zoo

    results = tmp_path / "results.md"
    assert main(["reproduce", "table5", str(tiny_zoo.path), "--features", "W", "--results", str(results)]) == 0
    text = results.read_text()  # the paper has no table for this zoo
    assert "### Table 5 on tiny_tetris: test R² (regression) or accuracy (Act, Init), %\n" in text
    assert "R² below −100% (W: Eph" not in text
    mean = pd.DataFrame({"W": [-1525.8, 12.0], "s(W)": [-6.2, -420.5], "E_cD": [2.2, 22.8]}, index=["Eph", "Acc"])
    assert extrapolation_note(mean).startswith("R² below −100% (W: Eph; s(W): Acc): ")
    assert extrapolation_note(mean.clip(lower=-99)) is None
    # one test model whose weights exploded: the linear probe of W extrapolates far on it, and the tables say so
    weights = np.array(tiny_zoo.weights)
    model = tiny_zoo.split().test[0]
    weights[model] = weights[model] * 1e4 + 1e3
    exploded = Zoo(weights, tiny_zoo.properties, tiny_zoo.layout, tiny_zoo.manifest).save(tmp_path / "exploded")
    capsys.readouterr()
    assert main(["probe", str(exploded), "--features", "W", "--targets", "Eph", "--out", str(tmp_path / "t.csv")]) == 0
    assert "note: R² below −100% (W: Eph): " in capsys.readouterr().out
    assert main(["reproduce", "table5", str(exploded), "--features", "W", "--results", str(results)]) == 0
    assert "\n- R² below −100% (W: Eph" in results.read_text()


def test_a_table_from_a_run_still_training_says_so(tiny_zoo, tiny_run, tmp_path, capsys, caplog):
    import shutil

    running = tmp_path / "running"
    shutil.copytree(tiny_run, running)
    (running / "result.json").unlink()  # what a run looks like before its last epoch has ended
    results = tmp_path / "results.md"
    for run in (tiny_run, running):
        assert main(["reproduce", "table5", str(tiny_zoo.path), "--features", "W", "--run", f"E_cD={run}",
                     "--results", str(results)]) == 0
        capsys.readouterr()
        text = results.read_text()
        assert ("Not finished when this table was made" in text) == (run == running)
    assert f"{running} (epoch 1 of 1)" in text
    with caplog.at_level("WARNING"):  # a probe table has no notes: the warning tells
        assert main(["probe", str(tiny_zoo.path), "--features", "W", "--run", f"E_cD={running}",
                     "--out", str(tmp_path / "t.csv")]) == 0
    assert f"E_cD: {running} has not finished training (epoch 1 of 1)" in caplog.text


def test_ablation_runs_are_trained_once_and_tabled(tiny_zoo, tmp_path):
    from hrlib.paper.tables import ablation_plan, ablation_runs, table3
    from hrlib.hyper.runs import load_run

    only = ["ED -", "E_cD P,E"]
    before = ablation_plan(tiny_zoo, ["table3"], tmp_path, epochs=1, quick=True, only={"table3": only}, device="cpu")
    assert before.startswith("table3: 2 runs, 0 found trained; ED - ") and "E_cD P,E " in before
    runs = ablation_runs(tiny_zoo, "table3", tmp_path, epochs=1, quick=True, only=only, device="cpu", progress=False)
    assert sorted(runs) == sorted(only)
    after = ablation_plan(tiny_zoo, ["table3"], tmp_path, epochs=1, quick=True, only={"table3": only}, device="cpu")
    assert after.splitlines()[0] == "table3: 2 runs, 2 found trained; nothing to train"
    assert after.splitlines()[1].startswith("about 0 s of training in all")
    ed = load_run(runs["ED -"])
    assert ed.config.loss.name == "ED" and not ed.config.augment.permute and ed.config.augment.erase_p == 0
    assert load_run(runs["E_cD P,E"]).config.augment.name == "P,E"
    stamp = (tmp_path / "hr").stat().st_mtime_ns, sorted(p.name for p in (tmp_path / "hr").iterdir())
    again = ablation_runs(tiny_zoo, "table3", tmp_path, epochs=1, quick=True, only=only, device="cpu", progress=False)
    assert again == runs and sorted(p.name for p in (tmp_path / "hr").iterdir()) == stamp[1]
    table = table3(tiny_zoo, runs)
    assert list(table.index) == ["ED", "E_cD"] and list(table.columns) == ["-", "P,E"]
    assert table.loc["ED", "-"] == pytest.approx(100 * ed.result["test_r2"], abs=1e-3)
    assert pd.isna(table.loc["ED", "P,E"]) and pd.isna(table.loc["E_cD", "-"])


def test_an_ablation_with_the_summed_reconstruction_trains_only_the_missing_rows(tiny_zoo, tmp_path):
    import json

    from hrlib.hyper.config import TrainConfig
    from hrlib.hyper.train import train

    given = tmp_path / "given"
    train(tiny_zoo, given, TrainConfig(epochs=1, batch_size=32, model=dict(d_model=16, ff=32, latent=8,
                                       projection_hidden=16, projection_out=8)), device="cpu", progress=False)
    results = tmp_path / "results.md"
    rows = [f"--run={name}={given}" for name in ("E_c", "ED", "E_cD")]
    assert main(["reproduce", "table1", str(tiny_zoo.path), "--train", "--epochs", "1", "--reduction", "sum",
                 "--runs-dir", str(tmp_path / "runs"), *rows, "--results", str(results), "--quiet"]) == 0
    trained = sorted(p.name for p in (tmp_path / "runs" / "hr").iterdir())
    assert trained == ["tiny-E_cpD-Att_Npt-e1-sum"]  # only the row not given, named by its reduction
    config = json.loads((tmp_path / "runs" / "hr" / trained[0] / "config.json").read_text())
    assert config["train"]["loss"]["reduction"] == "sum"
    text = results.read_text()
    assert "<!-- BEGIN table1:tiny_tetris:sum -->" in text and "reconstruction error: sum over weights" in text
    table = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| E")]
    assert table == ["E_c", "ED", "E_cD", "E_c+D"]  # the paper's order, whichever rows were trained


def test_table4_table6_and_the_ranking_benchmark(hyp_zoo, tmp_path, capsys):
    """Table 4's statistics are the zoo's VAR and the runs' R²; the ranking benchmark scores τ on a held-out
    half with a run trained on that split, and refuses a run trained on the usual 70/15/15 split."""
    import numpy as np
    from scipy.stats import kendalltau

    from hrlib.evaluate.features import baselines
    from hrlib.evaluate.probes import make_probe
    from hrlib.evaluate.tables import RANK_SPLIT, rank_checkpoints
    from hrlib.hyper.config import TrainConfig
    from hrlib.hyper.inference import reconstruction_r2
    from hrlib.hyper.train import train
    from hrlib.paper.tables import table4
    from hrlib.zoos.zoo import weight_variance

    small = dict(epochs=1, batch_size=32, lr=1e-3, model=dict(d_model=16, ff=32, latent=8, projection_hidden=16,
                                                               projection_out=8))
    usual = train(hyp_zoo, tmp_path / "usual", TrainConfig(**small), device="cpu", progress=False).path
    halves = train(hyp_zoo, tmp_path / "halves", TrainConfig(**small, split_fractions=RANK_SPLIT), device="cpu",
                   progress=False).path
    stats, report = table4(hyp_zoo, {"E_cD": str(usual)})
    assert stats["VAR"] == weight_variance(hyp_zoo) and stats["VAR_c"] == weight_variance(hyp_zoo, by=["init", "activation"])
    assert stats["R_tes E_cD"] == reconstruction_r2(usual, hyp_zoo, hyp_zoo.split().test)
    assert list(report.table.columns) == ["W", "s(W)", "E_cD"] and list(report.table.index) == ["Eph", "Acc", "GGap"]
    assert any(note.startswith("Init (init): constant") for note in report.notes)

    results = tmp_path / "results.md"
    assert main(["reproduce", "rank", str(hyp_zoo.path), "--run", f"E_cD={usual}"]) == 2
    assert "trained on a (0.7, 0.15, 0.15) split" in capsys.readouterr().err
    assert main(["reproduce", "rank", str(hyp_zoo.path), "--run", f"E_cD={halves}", "--results", str(results),
                 "--epochs", "2", "--runs-dir", str(tmp_path / "runs"), "--device", "cpu", "--quiet"]) == 0
    assert main(["reproduce", "table6", str(hyp_zoo.path), "--results", str(results)]) == 0
    text = results.read_text()
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ") and "±" not in line]
    assert rows[:7] == ["", "s_U(W), linear", "s_U(W), trees", "NFN_NP", "NFN_HNP", "E_cD, linear", "E_cD, trees"]
    assert "| | τ | R² | s |" in text and "NFN 0.934" in text
    assert sorted(p.name for p in (tmp_path / "runs" / "nfn").iterdir()) == ["tiny_hyp-NFN_HNP-split0-s0",
                                                                            "tiny_hyp-NFN_NP-split0-s0"]
    assert "<!-- BEGIN table6:tiny_hyp -->" in text and "| LR |" in text and "Opt (optimizer): constant" in text

    # the benchmark's τ is scipy's, on a probe fitted by hand to the train/val models' last checkpoints
    split = hyp_zoo.split(RANK_SPLIT)
    s_w = baselines(hyp_zoo.layout, umap=False)["s(W)"]
    table = rank_checkpoints(hyp_zoo, {"s(W)": s_w}, [("s(W)", "linear")], split=split)
    props = hyp_zoo.properties
    last = props.groupby("model").epoch.idxmax()
    train_rows, val_rows, test_rows = (last.loc[split[s]].to_numpy() for s in ("train", "val", "test"))
    fit_rows = np.concatenate([train_rows, val_rows])
    s_w.fit(hyp_zoo, train_rows)
    probe = make_probe("regression", standardize=True).fit(
        s_w.transform(hyp_zoo, fit_rows), props.test_acc.to_numpy()[fit_rows], np.arange(len(fit_rows)) >= len(train_rows))
    predicted = probe.predict(s_w.transform(hyp_zoo, test_rows))
    assert table.loc[("s(W)", "linear"), "n_test"] == len(split.test)
    assert table.loc[("s(W)", "linear"), "tau"] == pytest.approx(kendalltau(props.test_acc.to_numpy()[test_rows], predicted).statistic)


def test_tables_over_seeds_carry_their_spread_and_mark_only_clear_winners(tiny_zoo, tmp_path, capsys):
    import numpy as np

    from hrlib.hyper.config import TrainConfig
    from hrlib.hyper.train import train_replicates
    from hrlib.paper.tables import clear_winners, side_by_side

    mean = pd.DataFrame({"a": [10.0, 10.0], "b": [5.0, 9.0]}, index=["x", "y"])
    sd = pd.DataFrame({"a": [1.0, 1.0], "b": [1.0, 1.0]}, index=["x", "y"])
    assert clear_winners(mean, sd).values.tolist() == [[True, False], [False, False]]  # 10 vs 9 is within 1 + 1
    text = side_by_side(mean, sd=sd, winners="row")
    assert "| x | **10.0 ± 1.0** | 5.0 ± 1.0 |" in text and "| y | 10.0 ± 1.0 | 9.0 ± 1.0 |" in text
    assert "**" not in side_by_side(mean)  # one run tells no winner

    small = TrainConfig(epochs=1, batch_size=32, lr=1e-3, model=dict(d_model=16, ff=32, latent=8, projection_hidden=16,
                                                                      projection_out=8))
    train_replicates(tiny_zoo, tmp_path / "run", small, 3, device="cpu", progress=False)
    out, per_seed = tmp_path / "t.csv", []
    for i in range(3):  # each replicate alone, on its own split
        run = tmp_path / ("run" if i == 0 else f"run-s{i}")
        assert main(["probe", str(tiny_zoo.path), "--run", f"E_cD={run}", "--features", "sW", "--targets", "Eph,Acc",
                     "--split-seed", str(i), "--out", str(tmp_path / f"{i}.csv")]) == 0
        per_seed.append(pd.read_csv(tmp_path / f"{i}.csv", index_col="target"))
    assert main(["probe", str(tiny_zoo.path), "--run", f"E_cD={tmp_path / 'run'}", "--features", "sW", "--targets",
                 "Eph,Acc", "--seeds", "3", "--out", str(out)]) == 0
    table = pd.read_csv(out, index_col="target")
    assert list(table.columns) == ["metric", "s(W)", "s(W) sd", "E_cD", "E_cD sd"]
    stacked = np.stack([t[["s(W)", "E_cD"]].to_numpy() for t in per_seed])
    np.testing.assert_allclose(table[["s(W)", "E_cD"]], stacked.mean(0), atol=0.01)
    np.testing.assert_allclose(table[["s(W) sd", "E_cD sd"]], stacked.std(0, ddof=1), atol=0.02)
    assert "mean ± sd over 3 replicates" in capsys.readouterr().out
    assert main(["probe", str(tiny_zoo.path), "--run", f"E_cD={tmp_path / 'run'}", "--seeds", "4", "--out",
                 str(tmp_path / "four.csv")]) == 2
    assert "replicate 3 of" in capsys.readouterr().err and not (tmp_path / "four.csv").exists()
    results = tmp_path / "results.md"
    assert main(["reproduce", "table5", str(tiny_zoo.path), "--run", f"E_cD={tmp_path / 'run'}", "--features", "W,sW",
                 "--seeds", "3", "--results", str(results)]) == 0
    text = results.read_text()
    assert "mean ± sd over 3 seeds" in text and " ± " in text and "3 replicates" in text
    # the headline of `make run` reads the documented mean ± sd back from the section
    from hrlib.paper.tables import against_documented, read_section

    documented, spread, title = read_section(results, "table5:tiny_tetris")
    assert "mean ± sd over 3 seeds" in title and list(documented.columns) == ["W", "s(W)", "E_cD"]
    assert spread.loc["Eph", "E_cD"] > 0 and documented.loc["Eph", "E_cD"] == round(table.loc["Eph", "E_cD"], 1)
    lines = against_documented(documented + 0.01, results, "table5:tiny_tetris")
    assert lines.count("within 2 sd") == 6
    with pytest.raises(ValueError, match="no section"):
        read_section(results, "table5:nowhere")


def test_recipes_are_chosen_on_the_validation_split(tiny_zoo, tmp_path, capsys):
    """The recipe table scores runs on validation models only and puts the best mean probe score first."""
    from hrlib.evaluate.features import runs_as_features
    from hrlib.evaluate.tables import evaluate_probes
    from hrlib.hyper.config import TrainConfig
    from hrlib.hyper.losses import LossConfig
    from hrlib.hyper.runs import load_run
    from hrlib.hyper.train import train
    from hrlib.paper.tables import recipe_choice

    small = dict(batch_size=32, lr=1e-3, model=dict(d_model=16, ff=32, latent=8, projection_hidden=16, projection_out=8))
    runs = {"one": str(tmp_path / "one"), "three": str(tmp_path / "three")}
    train(tiny_zoo, runs["one"], TrainConfig(epochs=1, **small), device="cpu", progress=False)
    train(tiny_zoo, runs["three"], TrainConfig(epochs=3, loss=LossConfig(reduction="sum"), **small), device="cpu",
          progress=False)
    table = recipe_choice(tiny_zoo, runs)
    assert table["val probes, mean"].dropna().is_monotonic_decreasing
    assert table.loc["three", "setting"] == "E_cD, γ 0.5, sum error, z of 8, lr 0.001, batch 32, 3 epochs"
    # the linear reference of z's size: PCA of the training models' weights, scored on the validation models
    import numpy as np
    from sklearn.decomposition import PCA

    split = tiny_zoo.split(seed=0)
    fit, val = tiny_zoo.samples(split.train), tiny_zoo.samples(split.val)
    pca = PCA(8, random_state=0).fit(fit)
    expected = 1 - ((val - pca.inverse_transform(pca.transform(val))) ** 2).sum() / ((val - val.mean(0)) ** 2).sum()
    assert sorted(table.index[:2]) == ["one", "three"] and list(table.index[2:]) == ["PCA 8"]
    assert np.isnan(table.loc["PCA 8", "val Acc"])
    assert table.loc["PCA 8", "val Rec"] == pytest.approx(100 * expected, rel=1e-4)
    details = evaluate_probes(tiny_zoo, runs_as_features(runs, tiny_zoo), ["Eph", "Acc", "GGap"]).details
    val = details.set_index(["feature", "target"])["val"]
    assert table.loc["one", "val Acc"] == pytest.approx(100 * val[("one", "Acc")])
    history = load_run(runs["three"]).history  # the reconstruction of the epoch the run keeps
    assert table.loc["three", "val Rec"] == pytest.approx(100 * history.val_r2[history.val_loss.idxmin()])

    results = tmp_path / "results.md"
    assert main(["reproduce", "recipe", str(tiny_zoo.path), "--run", f"one={runs['one']}", "--run",
                 f"three={runs['three']}", "--results", str(results)]) == 0
    text = results.read_text()
    assert "### Choosing a training recipe for tiny_tetris on the validation split, 1/3 epochs" in text
    assert "<!-- BEGIN recipe:tiny_tetris:1/3ep -->" in text
    assert f"| **{table.index[0]}**: {table.setting.iloc[0]} |" in text and "no test score is read" in text
    assert main(["reproduce", "recipe", str(tiny_zoo.path), "--run", f"one={runs['one']}", "--seeds", "2"]) == 2
    assert "give each replicate as its own --run" in capsys.readouterr().err


def _write_sections(path, worker: int, count: int):
    from hrlib.paper.tables import write_section

    for i in range(count):
        key = f"w{worker}-{i}"
        write_section(path, key, f"<!-- BEGIN {key} -->\n{key}\n<!-- END {key} -->\n")


def test_commands_writing_one_results_file_at_once_lose_no_section(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    results = tmp_path / "results.md"
    with ProcessPoolExecutor(4) as pool:
        list(pool.map(_write_sections, [results] * 4, range(4), [40] * 4))
    text = results.read_text()
    assert all(f"<!-- BEGIN w{w}-{i} -->" in text for w in range(4) for i in range(40))


def test_the_headline_calls_a_winner_only_beyond_the_documented_spread():
    from hrlib.paper.tables import headline, headline_sentences

    columns = ["W", "PCA_c", "s(W)", "E_cD"]
    run = pd.DataFrame([[59.0, 75.0, 95.8, 96.2], [67.0, 88.4, 83.6, 91.5], [48.0, 68.0, 79.0, 79.5]],
                       index=["Eph", "Acc", "GGap"], columns=columns)
    mean = pd.DataFrame([[59.1, 75.8, 95.8, 96.4], [67.5, 88.1, 84.5, 92.1], [47.9, 67.9, 79.2, 79.8]],
                        index=run.index, columns=columns)
    sd = pd.DataFrame(0.5, index=run.index, columns=columns)
    sd.loc["Acc", "E_cD"] = 1.4
    paper = pd.DataFrame([[97.0, 96.4], [90.2, 86.9]], index=["Eph", "Acc"], columns=["E_cD", "s(W)"])
    frame = headline(run, "E_cD", documented=(mean, sd), paper=paper)
    # the best baseline of each target, by the documented means: Acc's is PCA_c, not s(W)
    assert list(frame["best baseline"]) == ["s(W)", "PCA_c", "s(W)"]
    np.testing.assert_allclose(frame["lead"], [0.4, 3.1, 0.5], atol=1e-9)
    # Eph: a lead of 0.6 against a spread of 1.0 is level; Acc: 4.0 against 1.9 is a win
    assert list(frame["verdict"]) == ["level", "z ahead", "level"]
    assert frame.loc["Acc", "z paper"] == 90.2 and np.isnan(frame.loc["GGap", "z paper"])
    text = headline_sentences(frame, "E_cD")
    assert "**Acc**: z (E_cD) 91.5 against the best baseline, PCA_c 88.4" in text and "z is ahead" in text
    assert text.count("no winner") == 2
    # without documented seeds no verdict is called
    alone = headline(run, "E_cD")
    assert set(alone["verdict"]) == {"one run: no spread"} and alone.loc["Acc", "best baseline"] == "PCA_c"
    assert headline_sentences(alone, "E_cD").count("one run cannot tell a winner") == 3
    sd.loc["Acc", "E_cD"] = 3.5  # a wider spread turns the same lead into a draw
    assert headline(run, "E_cD", documented=(mean, sd)).loc["Acc", "verdict"] == "level"
