"""Our BertEncoder against transformers' BertModel, every hidden state and attention map."""

import torch

from attnlab.look.capture import capture_attention, maps_from_hf
from attnlab.model.encoder import BertEncoder


def assert_layers_equal(ours: BertEncoder, hf, ids: torch.Tensor, pad: torch.Tensor | None = None) -> None:
    with torch.no_grad(), capture_attention(ours) as maps:
        states = ours.hidden_states(ids, key_padding_mask=pad)
    with torch.no_grad():
        out = hf(ids, attention_mask=None if pad is None else (~pad).long(),
                 output_hidden_states=True, output_attentions=True)
    assert len(states) == len(out.hidden_states) == ours.config.n_layers + 1
    for i, (a, b) in enumerate(zip(states, out.hidden_states)):
        keep = slice(None) if pad is None else ~pad  # padded positions are not compared
        torch.testing.assert_close(a[keep], b[keep], atol=1e-5, rtol=1e-5, msg=f"hidden state {i}")
    theirs = maps_from_hf(out)
    assert list(maps) == list(theirs)
    for name in maps:
        torch.testing.assert_close(maps[name], theirs[name], atol=1e-5, rtol=1e-5, msg=name)
