"""The ranking benchmark: Kendall's τ of test accuracy predicted from one checkpoint per model, method beside method.

Rows: s_U(W) with a linear probe and with gradient-boosted trees (StatNN, Unterthiner et al. 2020); the
invariant neural functionals NFN_NP and NFN_HNP (Zhou et al. 2023), when the ``peers`` extra is installed
and NFN's layers can read the architecture (a note says why they are absent otherwise); each
hyper-representation's z with a linear probe and with trees. Every row reports τ, R² and the seconds
its training took. Two protocols:

- ``hrlib``: every model's last checkpoint, a seeded 40/10/50 split by model (`RANK_SPLIT`), which a
  hyper-representation must have been trained on;
- ``nfn``: the NFN authors' protocol for the Small CNN Zoo (`nfn_split`), for a zoo imported with
  ``hrlib zoo import unterthiner``.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from hrlib.errors import MissingExtra
from hrlib.evaluate.features import runs_as_features, select_baselines
from hrlib.evaluate.tables import RANK_SPLIT, over_seeds, rank_checkpoints
from hrlib.zoos.layout import Layout
from hrlib.zoos.zoo import Split

PROTOCOLS = ("hrlib", "nfn")
NFN_STEP = 86  # the Small CNN Zoo's last checkpoint, the one the NFN authors read


def nfn_split(zoo, row_order=None) -> Split:
    """The NFN authors' split of the Small CNN Zoo (their predict_gen data loader), by model.

    The models' checkpoints at step 86 are taken in the row order of the zoo's weights.npy (recorded by
    the importer as ``source_row``), or in the order of `row_order`: a file listing weights.npy's rows
    one per line, as the authors' predict_gen_data_splits/*_split.csv do. The first half (rounded down)
    is fitted on, its indices shuffled by Python's ``random.Random(0)``, four fifths (rounded down)
    training and the rest validating; the second half is the test split. Models the importer left out
    (incomplete or non-finite) are missing from both halves.
    """
    props = zoo.properties
    if "source_row" not in props:
        raise ValueError("the NFN protocol orders models by their row in the Small CNN Zoo's weights.npy, which "
                         "`hrlib zoo import unterthiner` records as source_row; this zoo has none (import it again)")
    at = props[props["epoch"] == NFN_STEP]
    if at.empty:
        raise ValueError(f"the NFN protocol reads each model's checkpoint at step {NFN_STEP}; this zoo's epochs are "
                         f"{sorted(set(props['epoch']))}")
    source, models = at["source_row"].to_numpy(np.int64), at["model"].to_numpy()
    key = source if row_order is None else _positions(row_order, source)
    models = models[np.argsort(key, kind="stable")]
    half = int(0.5 * len(models))
    fitted = list(range(half))
    random.Random(0).shuffle(fitted)
    cut = int(0.8 * half)
    return Split(np.sort(models[fitted[:cut]]), np.sort(models[fitted[cut:]]), np.sort(models[half:]))


def _positions(row_order, source: np.ndarray) -> np.ndarray:
    """Where each of the `source` rows stands in the row order file."""
    try:
        order = pd.read_csv(row_order, header=None).to_numpy().ravel()
    except (OSError, ValueError) as err:
        raise ValueError(f"{row_order}: not a list of row numbers ({str(err).splitlines()[0][:160]})") from None
    if order.dtype.kind not in "iu" or len(order) == 0 or order.min() < 0 or len(np.unique(order)) < len(order):
        raise ValueError(f"{row_order}: expected distinct whole row numbers of weights.npy, one per line")
    position = np.full(max(int(order.max()), int(source.max())) + 1, -1)
    position[order] = np.arange(len(order))
    if (position[source] < 0).any():
        raise ValueError(f"{row_order}: lacks row {int(source[position[source] < 0][0])} of weights.npy, which this "
                         "zoo holds; is it the split file of this zoo's data set?")
    return position[source]


def peers_note(layout: Layout, peers: bool | None) -> str | None:
    """Why the NFN rows are absent ("--no-peers", extra missing, layout unsupported), or None when they run.
    Asked for (`peers` True), a missing extra or an unsupported layout is an error instead."""
    from hrlib.evaluate.peers import missing, unsupported

    if peers is False:
        return "left out (--no-peers)"
    reason = missing()
    if reason is not None:
        if peers:
            raise MissingExtra(reason)
        return f"not run: {reason}"
    reason = unsupported(layout)
    if reason is not None:
        if peers:
            raise ValueError(f"no NFN rows for this zoo: {reason}")
        return f"not run: {reason}"
    return None


def rank(zoo, runs: dict[str, str] | None = None, split_seed: int = 0, *, protocol: str = "hrlib", row_order=None,
         peers: bool | None = None, nfn=None, runs_dir="runs", device="auto", progress: bool = True) -> pd.DataFrame:
    """The ranking benchmark's rows for one split: (feature, estimator) → tau, r2, n_fit, n_test, seconds.

    Args:
        runs: name → hyper-representation, trained on the 40/10/50 split of `split_seed`
            (`hrlib train --split 0.4,0.1,0.5`); none with the ``nfn`` protocol, whose split no run trains on.
        protocol: "hrlib" (last checkpoints, `RANK_SPLIT` of `split_seed`) or "nfn" (`nfn_split`).
        peers: train NFN_NP and NFN_HNP (None: when `peers_note` finds nothing against it).
        nfn: the `NFNConfig` both start from (the authors' by default); each trains in its own folder
            under RUNS_DIR/nfn/, and a rerun resumes it.
    """
    from hrlib.evaluate.peers import PEERS, NFNConfig, NFNPredictor

    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    runs = runs or {}
    if protocol == "nfn" and runs:
        raise ValueError("the NFN protocol's split is the Small CNN Zoo's row order, which no hyper-representation is "
                         "trained on; rank runs with the hrlib protocol (`hrlib train --split 0.4,0.1,0.5`)")
    split = nfn_split(zoo, row_order) if protocol == "nfn" else zoo.split(RANK_SPLIT, seed=split_seed)
    features = select_baselines(zoo.layout, ["s_U(W)"]) | runs_as_features(runs, zoo, split_seed, RANK_SPLIT)
    pairs = [("s_U(W)", "linear"), ("s_U(W)", "trees")] + [(name, e) for name in runs for e in ("linear", "trees")]
    predictors = {}
    if peers_note(zoo.layout, peers) is None:
        nfn = nfn or NFNConfig()
        tag = f"split{split_seed}" if protocol == "hrlib" else "nfn" + (f"-{Path(row_order).stem}" if row_order else "")
        zoo_name = zoo.path.name if zoo.path else "zoo"
        predictors = {peer: NFNPredictor(Path(runs_dir) / "nfn" / f"{zoo_name}-{peer}-{tag}-s{nfn.seed}",
                                         replace(nfn, mode=mode), device, progress) for peer, mode in PEERS.items()}
    ranked = rank_checkpoints(zoo, features, pairs, split=split, predictors=predictors,
                              epoch=NFN_STEP if protocol == "nfn" else None)
    order = [*pairs[:2], *[(peer, "") for peer in predictors], *pairs[2:]]
    return ranked.reindex(order)


def far_predictions_note(mean: pd.DataFrame) -> str | None:
    """A note naming the rows of a ranking table (mean over seeds, column "R²") with R² below −1, or None."""
    far = [str(row) for row in mean.index if mean.loc[row, "R²"] < -1]
    if not far:
        return None
    return (f"R² below −1 ({'; '.join(far)}): the linear probe predicts far outside [0, 1] for a few test models. "
            "It works on standardized features, and a feature nearly constant on the training models (such as a "
            "saturated coordinate of z, whose sd there can be 1e-6) that moves on a test model is magnified by the "
            "division; τ, which only ranks, is hardly touched, and the trees are immune.")


def rank_section(zoo, name: str, runs: dict[str, str], *, seeds: int = 1, split_seed: int = 0, protocol="hrlib",
                 row_order=None, peers: bool | None = None, nfn=None, runs_dir="runs", device="auto",
                 progress: bool = True) -> tuple[str, str, str]:
    """The benchmark as a results.md section over `seeds` replicates: (title, body, key variant).

    Replicate i ranks with split seed `split_seed` + i (the ``nfn`` protocol: its one split), each run's
    replicate i, and NFNs trained with seed i."""
    from hrlib.evaluate.peers import NFNConfig
    from hrlib.hyper.runs import read_result, replicate_runs
    from hrlib.paper.numbers import PUBLISHED_RANK_TAU
    from hrlib.paper.tables import side_by_side

    nfn = nfn or NFNConfig()
    absent = peers_note(zoo.layout, peers)  # before any work: an asked-for peer that cannot run fails here
    sizes = []

    def make(i):
        ranked = rank(zoo, replicate_runs(runs, i), split_seed + i, protocol=protocol, row_order=row_order,
                      peers=absent is None, nfn=replace(nfn, seed=nfn.seed + i), runs_dir=runs_dir, device=device,
                      progress=progress)
        sizes.append(ranked[["n_fit", "n_test"]].iloc[0])
        ranked.index = [", ".join(part for part in key if part) for key in ranked.index]
        return ranked[["tau", "r2", "seconds"]].rename(columns={"tau": "τ", "r2": "R²", "seconds": "s"})

    mean, sd = over_seeds([make(i) for i in range(seeds)])
    body = side_by_side(mean, None, {"τ": 3, "R²": 3, "s": 0}, sd, "column", unranked=["s"])
    seeds_range = f"{split_seed}{f'..{split_seed + seeds - 1}' if seeds > 1 else ''}"
    if protocol == "nfn":
        order = f"the order of {row_order}" if row_order else "weights.npy's own row order"
        notes = [f"The NFN authors' protocol: each model's checkpoint at step {NFN_STEP}, models in {order}; the first "
                 f"half fitted ({sizes[0]['n_fit']} models, a fifth of them, drawn by Python's random.Random(0), "
                 f"validating), the second ranked ({sizes[0]['n_test']})."]
    else:
        notes = [f"Last checkpoint of every model; split by model 40/10/50 (seed {seeds_range}): fitted on "
                 f"{sizes[0]['n_fit']} models (the validation fifth chooses ridge's α on standardized features, stops "
                 f"the trees, or chooses the NFNs' epoch), ranked on {sizes[0]['n_test']}."]
    hr_seconds = {run: read_result(Path(path) / "result.json").get("train_seconds") for run, path in runs.items()
                  if (Path(path) / "result.json").is_file()}
    trained = ", ".join(f"{run} {s:.0f} s" for run, s in hr_seconds.items() if s is not None)
    seconds = ["s: seconds to fit each row's features and estimator here"]
    if runs:
        seconds.append("for z, the probe alone, after the hyper-representation's own training"
                       + (f" ({trained})" if trained else ""))
    if absent is None:
        seconds.append("for the NFNs, all epochs of their training, validation included")
    notes.append("; ".join(seconds) + ".")
    if absent is None:
        reseeded = f"; replicate i trains them with seed {nfn.seed} + i" if seeds > 1 else ""
        notes.append(f"NFN_NP, NFN_HNP: invariant neural functionals (the nfn package's NP layers with input/output "
                     f"embeddings, or HNP layers) of {', '.join(map(str, nfn.channels))} channels with ReLU, HNP "
                     f"pooling, an MLP head of width {nfn.head_width} and a sigmoid output, trained with binary "
                     f"cross-entropy on test accuracy (Adam, lr {nfn.lr:g}, batch {nfn.batch_size}, {nfn.epochs} "
                     f"epochs{', per-layer standardized weights' if nfn.standardize else ''}); the epoch with the best "
                     f"validation τ is kept{reseeded}. "
                     f"Trained, and resumed on a rerun, under {Path(runs_dir) / 'nfn'}.")
    else:
        notes.append(f"NFN_NP, NFN_HNP: {absent}.")
    if far := far_predictions_note(mean):
        notes.append(far)
    notes.append("Published τ on the Small CNN Zoo's CIFAR10-GS, another zoo, for orientation only: "
                 + ", ".join(f"{k} {v:.3f}" for k, v in PUBLISHED_RANK_TAU.items()) + ".")
    what = "the NFN authors' test half" if protocol == "nfn" else "the held-out half"
    title = (f"Ranking {name}'s models by test accuracy: Kendall's τ and R² on {what}, training seconds"
             f"{f'; mean ± sd over {seeds} seeds' if seeds > 1 else ''}")
    return title, body + "\n\n" + "\n".join(f"- {note}" for note in notes), "" if protocol == "hrlib" else ":nfn"
