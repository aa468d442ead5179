"""Encoders, decoders, losses: shapes, the paper's laws, exact reloads, and that they can learn."""


import pytest
import torch
from sklearn.metrics import r2_score

from hrlib.zoos import architectures as arch
from hrlib.hyper.losses import LossConfig, hyper_loss, nt_xent, positive_contrast, r2
from hrlib.hyper.models import Block, HyperRepresentation, ModelConfig, ffn_widths, named_settings

TETRIS = arch.layout_of("tetris_mlp").to_dict()
SMALL = dict(d_model=32, heads=2, blocks=1, ff=64, latent=8, projection_hidden=16, projection_out=8)


def check_nt_xent_by_loop(a, b, t):
    z = torch.nn.functional.normalize(torch.cat([a, b]), dim=1)
    n = len(z)
    total = 0.0
    for i in range(n):
        j = (i + len(a)) % n
        num = torch.exp(z[i] @ z[j] / t)
        den = sum(torch.exp(z[i] @ z[k] / t) for k in range(n) if k != i)
        total += -torch.log(num / den)
    return total / n


@pytest.mark.parametrize("heads", [1, 4])
def test_a_block_computes_multi_head_attention_as_written(heads):
    """x + W_o·softmax(q_h k_hᵀ/√hs)·v_h over heads h, then the feed-forward, each after its LayerNorm."""
    torch.manual_seed(0)
    block, x = Block(16, heads, 32, 0.0).eval(), torch.randn(3, 5, 16)
    hs = 16 // heads
    q, k, v = block.qkv(block.ln1(x)).view(3, 5, 3, heads, hs).unbind(2)  # (B, S, heads, hs) each
    weights = torch.softmax(torch.einsum("bshd,bthd->bhst", q, k) / hs**0.5, dim=-1)
    attended = x + block.proj(torch.einsum("bhst,bthd->bshd", weights, v).reshape(3, 5, 16))
    expected = attended + block.ff(block.ln2(attended))
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)


def test_nt_xent_equals_a_direct_loop_over_pairs():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 5, generator=gen), torch.randn(6, 5, generator=gen)
    for t in (0.1, 0.5):
        torch.testing.assert_close(nt_xent(a, b, t), check_nt_xent_by_loop(a, b, t), rtol=1e-5, atol=1e-5)


def test_positive_contrast_falls_as_views_align():
    gen = torch.Generator().manual_seed(0)
    a, noise = torch.randn(32, 10, generator=gen), torch.randn(32, 10, generator=gen)
    losses = [positive_contrast(a, a + s * noise).item() for s in (3.0, 1.0, 0.3, 0.0)]
    assert losses == sorted(losses, reverse=True) and losses[-1] == pytest.approx(-1.0)


def test_reconstruction_r2_is_variance_weighted_r2():
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(200, 7, generator=gen) * torch.arange(1, 8)
    recon = target + 0.5 * torch.randn(200, 7, generator=gen)
    assert r2(recon, target) == pytest.approx(r2_score(target, recon, multioutput="variance_weighted"), abs=1e-5)
    assert r2(target.mean(0).expand(200, -1), target) == pytest.approx(0.0, abs=1e-6)


def test_loss_names_and_parts():
    assert [LossConfig.named(n).name for n in ("ED", "E_c", "E_cD", "E_c+D")] == ["ED", "E_c", "E_cD", "E_c+D"]
    views = (torch.randn(4, 3), torch.randn(4, 3))
    outs = tuple((None, v + 0.1, torch.randn(4, 2)) for v in views)
    _, ed = hyper_loss(views, outs, LossConfig.named("ED"))
    _, ec = hyper_loss(views, outs, LossConfig.named("E_c"))
    total, ecd = hyper_loss(views, outs, LossConfig(gamma=0.25))
    assert set(ed) == {"mse", "loss"} and set(ec) == {"contrast", "loss"} and set(ecd) == {"mse", "contrast", "loss"}
    assert total.item() == pytest.approx(0.25 * ecd["contrast"].item() + 0.75 * ecd["mse"].item(), rel=1e-6)


@pytest.mark.parametrize("name", ["Att_N+t", "Att_N", "Att_W+t", "Att_W", "FF"])
def test_shapes_and_names(name):
    config = ModelConfig(TETRIS, **named_settings(name), **SMALL)
    model = HyperRepresentation(config)
    z, recon, proj = model(torch.randn(10, 100))
    assert z.shape == (10, 8) and recon.shape == (10, 100) and proj.shape == (10, 8)
    assert z.abs().max() <= 1.0  # tanh
    assert config.name == name  # the paper's name round-trips through the settings


def test_ffn_widths_shrink_linearly():
    assert ffn_widths(100, 50, 10) == [100, 95, 90, 85, 80, 75, 70, 65, 60, 55, 50]


def test_checkpoint_reloads_bit_identically(tmp_path):
    model = HyperRepresentation(ModelConfig(arch.layout_of("cnn_u").to_dict(), **SMALL)).eval()
    torch.save(model.checkpoint(), tmp_path / "m.pt")
    again = HyperRepresentation.from_checkpoint(torch.load(tmp_path / "m.pt", weights_only=True)).eval()
    assert again.config == model.config
    x = torch.randn(3, 4970)
    for (ka, va), (kb, vb) in zip(model.state_dict().items(), again.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(x), again(x)))


def test_loading_leaves_the_global_rng_alone_and_reads_older_checkpoints():
    model = HyperRepresentation(ModelConfig(TETRIS, **named_settings("FF"), **SMALL)).eval()
    old = model.checkpoint()
    old["config"] = {("architecture" if k == "encoder" else k): v for k, v in old["config"].items()}  # older spelling
    state = torch.get_rng_state()
    again = HyperRepresentation.from_checkpoint(old).eval()
    assert torch.equal(torch.get_rng_state(), state)
    assert again.config == model.config and again.config.name == "FF"
    x = torch.randn(3, 100)
    with torch.no_grad():
        assert torch.equal(model.encode(x), again.encode(x))


@pytest.mark.parametrize("loss", ["ED", "E_cD"])
def test_a_tiny_model_overfits_one_batch(loss):
    torch.manual_seed(0)
    model = HyperRepresentation(ModelConfig(TETRIS, dropout=0.0, **SMALL))
    batch = torch.randn(16, 100) * 0.5
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    config = LossConfig.named(loss)
    for _ in range(400):
        out = model(batch)
        total, parts = hyper_loss((batch, batch), (out, out), config)
        opt.zero_grad()
        total.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        assert r2(model(batch)[1], batch) > 0.95
