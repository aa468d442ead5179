"""A zoo in a few lines of text: what `hrlib zoo info` and `hrlib zoo create` print."""

from __future__ import annotations

from hrlib.zoos.population import FACTORS
from hrlib.zoos.zoo import Zoo


def describe(zoo: Zoo) -> str:
    """A human summary: size, accuracy range, hyper-parameter values and counts, models dropped."""
    props = zoo.properties
    m, c, p = zoo.weights.shape
    last = props[props["epoch"] == props["epoch"].max()]
    lines = [
        repr(zoo),
        f"  data set: {zoo.manifest.get('dataset', {}).get('name')}   epochs: {zoo.epochs.min()}..{zoo.epochs.max()}"
        f" ({c} checkpoints)",
    ]
    for column, title in (("test_acc", "final test accuracy"), ("ggap", "final generalization gap")):
        if column in last and last[column].notna().any():
            values = last[column]
            lines.append(f"  {title}: min {values.min():.3f}  median {values.median():.3f}  max {values.max():.3f}")
    reason = "diverged" if "source" not in zoo.manifest else "incomplete or non-finite"
    lines += [
        f"  models dropped ({reason}): {zoo.manifest.get('models_dropped', 0)} of {zoo.manifest.get('models_trained', m)}",
        "  generating factors:",
    ]
    per_model = props[props["epoch"] == props["epoch"].min()]
    for factor in FACTORS:
        if factor not in per_model:
            continue
        counts = per_model[factor].value_counts().sort_index()
        if len(counts) > 6:
            low, high = (f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in (counts.index.min(), counts.index.max()))
            lines.append(f"    {factor}: {len(counts)} distinct, {low}..{high}")
        else:
            lines.append(f"    {factor}: " + ", ".join(f"{k} ({v})" for k, v in counts.items()))
    if zoo.manifest.get("build_seconds"):
        lines.append(f"  built in {zoo.manifest['build_seconds']:.1f} s")
    return "\n".join(lines)
