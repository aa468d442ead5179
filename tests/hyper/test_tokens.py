import pytest
import torch

from hrlib.zoos import architectures as arch
from hrlib.hyper.tokens import detokenize, token_counts, token_sizes, tokenize


@pytest.mark.parametrize("name", sorted(arch.ARCHITECTURES))
@pytest.mark.parametrize("mode", ["neuron", "weight"])
def test_round_trip_is_exact(name, mode):
    layout = arch.layout_of(name)
    flat = torch.randn(5, layout.n_params)
    tokens = tokenize(flat, layout, mode)
    assert [t.shape[1] for t in tokens] == token_counts(layout, mode)
    assert [t.shape[2] for t in tokens] == token_sizes(layout, mode)
    assert torch.equal(detokenize(tokens, layout, mode), flat)


def test_sequence_lengths_match_the_reference():
    assert [sum(token_counts(arch.layout_of(n))) for n in ("tetris_mlp", "cnn_s", "cnn_u")] == [9, 48, 58]


def test_a_neuron_token_holds_its_incoming_weights_then_its_bias():
    layout = arch.layout_of("cnn_s")
    module = arch.build_module("cnn_s")
    flat = layout.flatten(module.state_dict()).unsqueeze(0)
    tokens = tokenize(flat, layout)
    named = dict(module.named_modules())
    conv2 = named[layout.layers[1].name]
    torch.testing.assert_close(tokens[1][0, 3], torch.cat([conv2.weight[3].flatten(), conv2.bias[3:4]]).detach())
    dense = named[layout.layers[3].name]
    assert isinstance(conv2, torch.nn.Conv2d) and isinstance(dense, torch.nn.Linear)
    torch.testing.assert_close(tokens[3][0, 7], torch.cat([dense.weight[7], dense.bias[7:8]]).detach())
