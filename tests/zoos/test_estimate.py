"""`hrlib zoo create --dry-run`: the exact size and disk of a zoo and a measured time, nothing written."""

from hrlib.cli import main
from hrlib.zoos.estimate import estimate
from hrlib.zoos.presets import get_preset


def test_dry_run_prints_size_disk_and_time_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "zoo"
    assert main(["zoo", "create", "tetris_seed", "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "tetris_seed: 1000 models × 76 checkpoints × 100 params, in 1 shard(s)" in printed
    assert "29.0 MiB of weights" in printed  # 1000 × 76 × 100 float32
    assert "estimated time:" in printed and "model-samples/s training" in printed
    assert not out.exists() and not list(tmp_path.iterdir())


def test_the_estimate_scales_with_the_work():
    small = estimate(get_preset("tetris_seed").override(models=100, epochs=5), "cpu")
    assert small.weights_bytes == 100 * 6 * 100 * 4 and small.train_rate > 0 and small.eval_rate > 0
    expected = 100 * (5 * 200 / small.train_rate + 6 * (200 + 10000) / small.eval_rate)
    assert abs(small.seconds - expected) < 1e-6 * expected
