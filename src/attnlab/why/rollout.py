"""Attention rollout and attention flow (Abnar & Zuidema 2020): the layers taken together.

A raw map says where one head of one layer looks. But layer 2 looks at layer 1's outputs, each
already a mix of tokens, and the residual stream carries every token past its attention. Both
methods first turn each layer's maps into one matrix that keeps the residual in view:

    Â = 0.5 · (mean over heads of the weights) + 0.5 · I,   rows renormalised to sum to 1

(a model without residual connections, a rung of `attnlab ladder`, has no I to add: Â is the
mean of the weights alone, `residual=False`)

- rollout multiplies these from the first layer to the last, R = Â_L ⋯ Â_2 · Â_1, so
  R[i, j] is how much output position i is made of input position j;
- flow treats every Â[i, j] as the capacity of a pipe from position j in one layer to position
  i in the next, and asks how much can flow from input position j to output position i.

Each map is (H, T, T): heads, queries (rows), keys (columns); a batch of one is squeezed.

>>> import torch
>>> one = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])      # one layer, one head: both look at token 0
>>> mixed_matrix(one).tolist()
[[1.0, 0.0], [0.5, 0.5]]
>>> attention_rollout([one, one]).tolist()               # token 1 keeps half, then half of that
[[1.0, 0.0], [0.75, 0.25]]
>>> attention_flow([one, one], source=0, sink=1)          # yet two pipes of 0.5 both reach it
1.0
"""

from __future__ import annotations

from typing import Sequence

import torch
from attnlab.errors import UserError


def _as_layer(weights: torch.Tensor) -> torch.Tensor:
    """One layer's weights as float64 (H, T, T)."""
    w = torch.as_tensor(weights).detach().to(torch.float64).cpu()
    if w.dim() == 4 and w.shape[0] == 1:
        w = w[0]
    if w.dim() != 3 or w.shape[1] != w.shape[2]:
        raise UserError(f"one layer's self-attention must be (H, T, T) or (1, H, T, T), got {tuple(w.shape)}")
    return w


def mixed_matrix(weights: torch.Tensor, residual: bool = True) -> torch.Tensor:
    """Â = 0.5 · mean_h(weights) + 0.5 · I with rows renormalised: (H, T, T) -> (T, T) float64.
    Without a residual stream (`residual=False`) Â = mean_h(weights)."""
    w = _as_layer(weights)
    if not residual:
        return w.mean(dim=0)  # (T, T): rows already sum to 1
    T = w.shape[-1]
    a = 0.5 * w.mean(dim=0) + 0.5 * torch.eye(T, dtype=torch.float64)  # (T, T)
    return a / a.sum(dim=-1, keepdim=True)


def _check_layers(maps: Sequence[torch.Tensor], residual: bool = True) -> list[torch.Tensor]:
    if len(maps) == 0:
        raise UserError("rollout and flow need the maps of at least one layer")
    mixed = [mixed_matrix(w, residual) for w in maps]
    sizes = {a.shape[0] for a in mixed}
    if len(sizes) != 1:
        raise UserError(f"every layer must have the same number of tokens, got {sorted(sizes)}")
    return mixed


def attention_rollout(maps: Sequence[torch.Tensor], residual: bool = True) -> torch.Tensor:
    """R = Â_L ⋯ Â_1 (float64, (T, T)): R[i, j] = how much output i is made of input j.
    Every row sums to 1."""
    mixed = _check_layers(maps, residual)
    rollout = mixed[0]
    for a in mixed[1:]:
        rollout = a @ rollout  # (T, T): the later layer mixes what the earlier ones made
    return rollout


def flow_graph(maps: Sequence[torch.Tensor], residual: bool = True):
    """The layered graph of positions as a `networkx.DiGraph`.

    Nodes are `(layer, position)` with layer 0 the input and layer L the last output; an edge
    (l - 1, j) -> (l, i) has capacity Â_l[i, j]. Zero entries (a GPT's future) get no edge: in
    networkx an edge without a capacity would be a pipe without limit.
    """
    import networkx as nx

    mixed = _check_layers(maps, residual)
    T = mixed[0].shape[0]
    graph = nx.DiGraph()
    graph.add_nodes_from((layer, p) for layer in range(len(mixed) + 1) for p in range(T))
    for layer, a in enumerate(mixed, start=1):
        for i, j in torch.nonzero(a > 0).tolist():
            graph.add_edge((layer - 1, j), (layer, i), capacity=a[i, j].item())
    return graph


def attention_flow(maps: Sequence[torch.Tensor], source: int, sink: int, graph=None, residual: bool = True) -> float:
    """The maximum flow from input position `source` to output position `sink` (at most 1,
    since position `sink` takes in at most 1 from the layer below). Pass `graph` (from
    `flow_graph`) to ask several questions of one graph."""
    import networkx as nx

    graph = flow_graph(maps, residual) if graph is None else graph
    T = 1 + max(p for _, p in graph.nodes)
    L = max(layer for layer, _ in graph.nodes)
    for name, p in (("source", source), ("sink", sink)):
        if not 0 <= p < T:
            raise UserError(f"{name} position {p} out of range: there are tokens 0..{T - 1}")
    return float(nx.maximum_flow_value(graph, (0, source), (L, sink)))
