"""Presets list the models the paper's zoos hold (docs/zoos.md), and every preset builds at a tiny size."""

import itertools
import math

import numpy as np
import pytest

from hrlib import load_zoo
from hrlib.zoos.build import create_zoo
from hrlib.zoos.presets import PRESETS, Preset, get_preset, sample_factors
from tests.datasets.test_idx import real_dir


def test_preset_sizes_and_factors():
    seed = get_preset("tetris_seed")
    specs = seed.specs()
    assert len(specs) == 1000 and [s.seed for s in specs] == list(range(1, 1001))
    assert len({(s.activation, s.init, s.optimizer, s.lr) for s in specs}) == 1
    assert seed.epochs == 75 and seed.checkpoints == list(range(76))
    hyp = get_preset("tetris_hyp").specs()
    assert len(hyp) == 3600
    assert len({(s.activation, s.init, s.lr) for s in hyp}) == 36
    assert sorted({s.seed for s in hyp}) == list(range(1, 101))
    assert len(PRESETS["digits_hyp"].specs()) == 3600 and len(PRESETS["digits_seed"].specs()) == 1000


def test_overrides_shrink_a_preset():
    small = get_preset("tetris_hyp").override(models=60, epochs=5)
    specs = small.specs()
    assert len(specs) == 60 and small.epochs == 5
    assert {s.activation for s in specs} == {"tanh", "relu"} and len({s.init for s in specs}) == 6
    assert get_preset("tetris_seed").override(models=7).specs()[-1].seed == 7
    scaled = get_preset("tetris_seed").override(epochs=43)
    assert scaled.checkpoints == list(range(44))
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("imagenet_seed")
    with pytest.raises(ValueError, match=r"tetris_seed holds 1000 models; models must be 1\.\.1000, got 0"):
        get_preset("tetris_seed").override(models=0)


def test_seed_zoos():
    for name, dataset in (("mnist_seed", "mnist"), ("fashion_seed", "fashion_mnist")):
        preset = get_preset(name)
        specs = preset.specs()
        assert (preset.architecture, preset.dataset, preset.epochs, preset.batch_size) == ("cnn_s", dataset, 50, 10)
        assert [s.seed for s in specs] == list(range(1, 1001))
        assert {(s.activation, s.optimizer, s.lr, s.dropout) for s in specs} == {("tanh", "adam", 1e-3, 0.0)}
        assert {(s.init, s.init_std) for s in specs} == {("scaled_uniform", 0.5)} and preset.version == 2


def test_hyperparameter_grid_zoos():
    one_fix, one_rand = get_preset("mnist_hyp_1_fix_seed").specs(), get_preset("mnist_hyp_1_rand_seed").specs()
    five_fix, five_rand = get_preset("mnist_hyp_5_fix_seed").specs(), get_preset("mnist_hyp_5_rand_seed").specs()
    assert (len(one_fix), len(one_rand), len(five_fix), len(five_rand)) == (1024, 1024, 1280, 1280)
    config = lambda s: (s.activation, s.dropout, s.init, s.optimizer, s.lr, s.weight_decay)  # noqa: E731
    assert len({config(s) for s in one_fix}) == 1024 and len({config(s) for s in five_fix}) == 256
    assert {config(s) for s in five_fix} <= {config(s) for s in one_fix}  # the 5-seed grid is a sub-grid
    assert {s.seed for s in one_fix} == {1} and len({s.seed for s in one_rand}) > 1000
    assert {s.activation for s in five_fix} == {"tanh", "relu", "sigmoid", "gelu"}
    assert {s.init for s in five_fix} == {"uniform", "normal", "kaiming_uniform", "kaiming_normal"}
    assert {s.dropout for s in five_fix} == {0.0, 0.5} and {s.optimizer for s in five_fix} == {"adam", "sgd"}
    for specs, fixed in ((five_fix, True), (five_rand, False)):
        by_config = {}
        for s in specs:
            by_config.setdefault(config(s), []).append(s.seed)
        assert all(len(seeds) == 5 for seeds in by_config.values())
        assert all((sorted(seeds) == [1, 2, 3, 4, 5]) == fixed for seeds in by_config.values())


def test_unterthiner_style_zoos():
    preset = get_preset("mnist_cnn_zoo")
    specs = preset.specs()
    assert len(specs) == 30000 and {s.seed for s in specs} == {42} and {s.bias_init for s in specs} == {0.0}
    assert preset.checkpoints == [0, 1, 2, 3, 20, 40, 60, 80, 86] and preset.batch_size == 512
    assert preset.data_options == {"scale": "symmetric"} and preset.architecture == "cnn_u"
    lr = np.array([s.lr for s in specs])
    assert 5e-4 <= lr.min() and lr.max() <= 5e-2
    assert abs(np.median(np.log(lr)) - np.log(math.sqrt(5e-4 * 5e-2))) < 0.05  # log-uniform: median at the geometric mean
    assert 0 <= min(s.dropout for s in specs) and max(s.dropout for s in specs) <= 0.7
    counts = {f: np.unique([getattr(s, f) for s in specs], return_counts=True) for f in ("optimizer", "train_fraction", "init")}
    assert list(counts["train_fraction"][0]) == [0.1, 0.25, 0.5, 1.0]
    for values, n in counts.values():
        assert n.min() > 0.9 * len(specs) / len(values)  # categorical factors drawn uniformly
    fashion = np.array([s.lr for s in get_preset("fashion_cnn_zoo").specs()])
    assert not np.array_equal(fashion, lr) and 5e-4 <= fashion.min() and fashion.max() <= 5e-2  # own draws
    short = preset.override(models=100, epochs=10)
    assert short.checkpoints == [0, 2, 5, 7, 9, 10] and short.specs() == specs[:100]
    with pytest.raises(ValueError, match="unknown distribution"):
        sample_factors({"lr": ("gamma", 1, 2)}, 3, np.random.default_rng(0))


def test_training_subset_override_is_recorded():
    preset = get_preset("mnist_seed").override(models=4, epochs=2, train_subset=500)
    assert preset.data_options == {"subset_seed": 0, "train_subset": 500}
    assert get_preset("mnist_cnn_zoo").override(train_subset=500).data_options == {
        "subset_seed": 0, "scale": "symmetric", "train_subset": 500}


def tiny(preset: Preset) -> Preset:
    options = {**preset.data_options, "train_subset": 100, "test_subset": 100}
    return preset.override(models=3, epochs=1, data_options=options, batch_size=min(preset.batch_size, 32))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_at_a_tiny_size(name, tmp_path):
    preset = tiny(get_preset(name))
    if preset.dataset in ("mnist", "fashion_mnist"):
        real_dir(preset.dataset)
    zoo = load_zoo(create_zoo(preset, tmp_path / name, device="cpu", progress=False).path)
    m, c, p = zoo.weights.shape
    assert m + zoo.manifest["models_dropped"] == 3 and c == len(preset.checkpoints) == 2
    assert zoo.manifest["dataset"] == {"name": preset.dataset, **preset.data_options}
    assert zoo.manifest["architecture"] == preset.architecture
    if m:
        assert np.isfinite(zoo.weights).all() and zoo.properties.test_acc.between(0, 1).all()
        for factor in ("seed", "activation", "init", "init_std", "optimizer", "lr", "weight_decay", "dropout",
                       "train_fraction", "bias_init"):
            assert factor in zoo.properties, factor


def test_a_cpu_sized_mnist_seed_zoo_learns(tmp_path):
    """Real MNIST, a few CNN-s models, two epochs (500 steps) on 2500 images: from chance to well above
    it (measured: 9-10% at initialisation, 38-68% after two epochs), and not all alike."""
    real_dir("mnist")
    preset = get_preset("mnist_seed").override(models=4, epochs=2, train_subset=2500)
    preset = preset.override(data_options={**preset.data_options, "test_subset": 1000})
    zoo = create_zoo(preset, tmp_path / "zoo", device="cpu", progress=False)
    final = zoo.properties[zoo.properties.epoch == 2].test_acc
    start = zoo.properties[zoo.properties.epoch == 0].test_acc
    assert (final > 0.3).all() and (start < 0.2).all(), (start.tolist(), final.tolist())
    assert final.nunique() > 1
    assert list(itertools.islice(zoo.properties.seed[::3], 4)) == [1, 2, 3, 4]


def test_the_tetris_zoos_are_the_calibrated_design():
    for name in ("tetris_seed", "tetris_hyp"):
        preset = get_preset(name)
        assert preset.version == 2
        assert preset.data_options == dict(train_size=200, test_size=10000, noise=0.3)
    assert get_preset("tetris_seed").fixed["init"] == "uniform" and get_preset("tetris_seed").fixed["lr"] == 1e-2
    assert get_preset("digits_seed").version == 1


def test_a_zoo_of_an_earlier_design_is_not_taken_for_the_current_one(tmp_path):
    import json

    from hrlib.pipeline import ensure_zoo

    zoo = ensure_zoo("tetris_seed", runs=tmp_path, quick_run=True, device="cpu", progress=False)
    assert zoo.manifest["config"]["version"] == 2 and zoo.manifest["config"]["data_options"]["noise"] == 0.3
    manifest = tmp_path / "zoos" / "tetris_seed-quick" / "manifest.json"
    saved = json.loads(manifest.read_text())
    saved["config"]["version"] = 1
    manifest.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="different configuration"):
        ensure_zoo("tetris_seed", runs=tmp_path, quick_run=True, device="cpu", progress=False)


def test_sizes_and_the_plan_printed_before_any_work(tmp_path):
    from hrlib.pipeline import auto_size, ensure_zoo, plan, zoo_dir
    from hrlib.zoos.presets import sized

    cpu = sized(get_preset("mnist_seed"), "cpu")
    assert (len(cpu.specs()), cpu.epochs, cpu.data_options["train_subset"]) == (300, 15, 5000)
    assert sized(get_preset("tetris_seed"), "cpu") == get_preset("tetris_seed")  # MLP zoos build whole on a CPU
    assert auto_size("tetris_seed", "cpu") == "full" and auto_size("mnist_cnn_zoo", "cpu") == "cpu"
    with pytest.raises(ValueError, match="size must be one of"):
        sized(get_preset("mnist_seed"), "huge")
    before = plan("tetris_seed", tmp_path, "quick", device="cpu")
    assert not (tmp_path / "zoos").exists()  # planning builds nothing
    assert f"to be built into {zoo_dir('tetris_seed', tmp_path, 'quick')}" in before and "estimated time" in before
    assert "12 epochs (12 to go)" in before and "per epoch here" in before
    ensure_zoo("tetris_seed", runs=tmp_path, quick_run=True, device="cpu", progress=False)
    assert "found in" in plan("tetris_seed", tmp_path, "quick", device="cpu")
    # no encoder named: the recipe's, in the plan and in the run's folder name
    assert "E_cD, Att_N+t," in before and "tetris_seed-quick-E_cD-Att_Npt" in before
    cnn = plan("mnist_seed", tmp_path, "quick", device="cpu")
    assert "E_cD, Att_N," in cnn and "mnist_seed-quick-E_cD-Att_N:" in cnn
    assert "E_cD, Att_N+t," in plan("mnist_seed", tmp_path, "quick", encoder="Att_N+t", device="cpu")
    # a one-seed zoo (CNN-u) trains cnnu_cpu, without permutations, and its folder says so
    cnnu = plan("mnist_cnn_zoo", tmp_path, "quick", device="cpu")
    assert "mnist_cnn_zoo-quick-E_cD-Att_N-augE:" in cnnu
    assert "mnist_cnn_zoo-quick-E_cD-Att_N:" in plan("mnist_cnn_zoo", tmp_path, "quick", augment="P,E", device="cpu")
