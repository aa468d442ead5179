"""How fast the explorer opens and answers, in one process:

- the first map: drawn at once (PCA) with an empty disk cache, against waiting for the UMAP map it
  asks for (what the explorer did before it computed UMAP in the background); then a second
  explorer on the same zoo (a reopened notebook), which reads every map from the disk cache;
- a control change, against rebuilding the figure on every change (what an app around
  `plotly.express.scatter` does), including a change to a representation not yet computed.

Every widget message is encoded as a kernel encodes it (strict JSON plus binary buffers), so the
times include what a kernel spends before the message leaves for the browser.

    python benchmarks/explorer_speed.py [--zoo tetris_hyp] [--runs runs] [--run RUN_DIR] [--fit-rows 20000]

The zoo is built into RUNS/zoos/ when missing (tetris_hyp: about 2 minutes). `--run` adds the z of
a trained hyper-representation as a third representation.
"""

import argparse
import json
import statistics
import tempfile
import time

import comm
from comm.base_comm import BaseComm
from jupyter_client.jsonutil import json_default

from hrlib.explore import Explorer
from hrlib.pipeline import ensure_zoo
from hrlib.explore.projections import ProjectionSettings
from train_profile import cpu_description


class KernelComm(BaseComm):
    """Encodes each message as ipykernel does and counts the bytes; sends nothing."""

    sent = 0

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        text = json.dumps(data, default=json_default, ensure_ascii=False, allow_nan=False)
        KernelComm.sent += len(text) + sum(memoryview(b).nbytes for b in buffers or ())


def fresh_representation(explorer, name):
    """Switch to `name` as if its map had never been computed: the control answers at once, the map
    follows from the background."""
    kept = explorer.projections
    explorer.projections = type(kept)(kept.zoo, kept.representations)  # no maps, no disk cache
    explorer.representation.value = name
    explorer.projections = kept


def timed(action) -> tuple[float, int]:
    KernelComm.sent = 0
    start = time.perf_counter()
    action()
    return time.perf_counter() - start, KernelComm.sent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default="tetris_hyp")
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--run", default="", help="a trained run directory: adds its z")
    parser.add_argument("--fit-rows", type=int, default=20_000)
    args = parser.parse_args()
    comm.create_comm = KernelComm

    zoo = ensure_zoo(args.zoo, args.runs)
    runs = {"E_cD": args.run} if args.run else {}
    settings = ProjectionSettings(fit_rows=args.fit_rows)
    print(f"CPU: {cpu_description()}\n{zoo.path.name}: {len(zoo.properties):,} checkpoints")
    with tempfile.TemporaryDirectory() as cache:  # an empty disk cache: maps computed here
        start = time.perf_counter()
        explorer = Explorer(zoo, runs=runs, settings=settings, cache=cache)
        first = time.perf_counter() - start
        name = explorer.representation.value
        print(f"first map ({explorer.figure.layout.title.text.split(':')[0]}) drawn after {first:.1f} s "
              f"(acceptance: under 20 s)")
        explorer.wait()
        umap = time.perf_counter() - start
        print(f"  {name} → UMAP computed in the background and drawn after {umap:.1f} s; waiting for it, as "
              f"before: {umap / first:.0f}x longer to the first map")
        for other in explorer.projections.names:  # fill the cache, as the notebook's map scores do
            start = time.perf_counter()
            explorer.projections.get(other, explorer.settings)
            print(f"  map of {other}: {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        again = Explorer(zoo, runs=runs, settings=settings, cache=cache)
        reopened = time.perf_counter() - start
        print(f"reopened (a new explorer, maps on disk): {again.figure.layout.title.text.split(':')[0]} drawn after "
              f"{reopened:.2f} s, {umap / reopened:.0f}x sooner than computing it")
        explorer.projections = again.projections  # from here on: every map at hand, as when reopened

        factor = explorer.factors[0]
        low, high = explorer.epochs.value
        changes = [
            ("colour → epoch", lambda: setattr(explorer.color, "value", "epoch")),
            (f"colour → {factor}", lambda: setattr(explorer.color, "value", factor)),
            ("colour → test_acc", lambda: setattr(explorer.color, "value", "test_acc")),
            ("split → test", lambda: setattr(explorer.split_filter, "value", "test")),
            ("split → all", lambda: setattr(explorer.split_filter, "value", "all")),
            ("epochs → last half", lambda: setattr(explorer.epochs, "value", ((low + high) // 2, high))),
            ("epochs → all", lambda: setattr(explorer.epochs, "value", (low, high))),
            (f"{factor} → one value", lambda: setattr(explorer.factor_filters[factor], "value",
                                                       explorer.factor_filters[factor].value[:1])),
            ("marker size → 5", lambda: setattr(explorer.marker_size, "value", 5)),
            ("representation → s(W)", lambda: setattr(explorer.representation, "value", "s(W)")),
            ("representation → W", lambda: setattr(explorer.representation, "value", "W")),
            ("trajectories on (10 models)", lambda: (setattr(explorer.models, "value", ", ".join(map(str, range(10)))),
                                                     setattr(explorer.trajectories, "value", True))),
            ("click a checkpoint", lambda: explorer.show_checkpoint(len(zoo.properties) // 2)),
            ("select 5,000 checkpoints", lambda: explorer.show_selection(range(0, 50_000, 10))),
            ("representation → s(W), new", lambda: fresh_representation(explorer, "s(W)")),
        ]
        print("control change (cached maps): seconds, bytes to the browser")
        seconds = []
        for name, action in changes:
            took, sent = timed(action)
            seconds.append(took)
            print(f"  {name:30s} {took:7.3f} s  {sent / 1e6:8.2f} MB")

        # the baseline: a new FigureWidget with every point, colour and hover label, sent whole
        rebuilt = [timed(explorer._build_figure) for _ in range(3)]
        baseline = statistics.median(t for t, _ in rebuilt)
        print(f"  rebuilding the figure instead:  {baseline:7.3f} s  {rebuilt[0][1] / 1e6:8.2f} MB")
        print(f"slowest control change {max(seconds):.3f} s (acceptance: under 0.5 s); "
              f"median {statistics.median(seconds):.3f} s; rebuilding / median change: {baseline / statistics.median(seconds):.1f}x")
        explorer.wait()  # the map of the new s(W), before its cache folder goes


if __name__ == "__main__":
    main()
