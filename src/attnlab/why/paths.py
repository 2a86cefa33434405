"""Path patching (Wang et al. 2022): does a head help a later head through its keys, queries or values?

A sender head's output reaches a receiver head only through the receiver's input, the residual
stream entering the receiver's layer, which then feeds three projections: query, key and value.
Path patching changes what the sender writes into that stream **for one projection of the
receiver only**; everything else runs as in the running text:

    delta     = sender_out(new) - sender_out(run)        (B, T, C), each sender through its W_O slice
    pass 1    run the text with `delta` added to the receiver layer's input, record the
              receiver's `attn.k` (or `q`, `v`)              -> what the receiver would compute
    pass 2    run the text again with only the receivers' heads of that k (q, v) replaced
              by pass 1's; everything downstream follows freely -> logits

"new" is the other text's run (`path_patch`: the clean output into the corrupt run, scored as
activation patching is) or nothing at all (`path_ablate`: the output removed, zero, or its mean
over every position of the batch).

Specs: `0.3->1.2.k` (head 3 of layer 0 into head 2 of layer 1's keys), `0.*->1.*.q` (every
head of a layer), `.v` for the values. The sender's layer must come before the receiver's.
The residual stream must be a sum of what the heads write (a residual model, pre-LN or no
LayerNorm): in a post-LN block every sublayer's output is renormalised with the whole stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
import torch
import torch.nn as nn

from attnlab.errors import UserError
from attnlab.look.hooks import intervene, record
from attnlab.why.components import head_outputs
from attnlab.why.logit_diff import Pair, normalised
from attnlab.why.patch import baseline_lds, check_gpt

INPUTS = {"k": "key", "q": "query", "v": "value"}
ABLATIONS = ("zero", "mean")
SPEC = re.compile(r"^(\d+)\.(\d+|\*)->(\d+)\.(\d+|\*)\.([kqv])$")

Head = tuple[int, int]


@dataclass
class Path:
    """Senders (layer, head) -> receivers (layer, head), all in one later layer, through `input`."""

    senders: list[Head]
    receivers: list[Head]
    input: str  # "k", "q" or "v"

    @property
    def receiver_layer(self) -> int:
        return self.receivers[0][0]

    def __str__(self) -> str:
        def side(heads: list[Head]) -> str:
            layer = heads[0][0]
            return f"{layer}.*" if len(heads) > 1 else f"{layer}.{heads[0][1]}"
        return f"{side(self.senders)}->{side(self.receivers)}.{self.input}"


def parse_path(spec: str, n_layers: int, n_heads: int) -> Path:
    """'0.3->1.2.k' -> Path([(0, 3)], [(1, 2)], "k"); '0.*' is every head of layer 0."""
    m = SPEC.match(spec.replace(" ", ""))
    if m is None:
        raise UserError(f"--path {spec!r}: write SENDER->RECEIVER.INPUT, e.g. 0.3->1.2.k (INPUT k, q or v; "
                        f"'L.*' for every head of a layer)")
    sl, sh, rl, rh, kind = m.groups()

    def heads(layer: str, head: str) -> list[Head]:
        l = int(layer)
        if not 0 <= l < n_layers:
            raise UserError(f"--path {spec!r}: layer {l} does not exist; the model has layers 0..{n_layers - 1}")
        if head == "*":
            return [(l, h) for h in range(n_heads)]
        if not 0 <= int(head) < n_heads:
            raise UserError(f"--path {spec!r}: head {l}.{head} does not exist; the model has heads 0..{n_heads - 1}")
        return [(l, int(head))]

    senders, receivers = heads(sl, sh), heads(rl, rh)
    if senders[0][0] >= receivers[0][0]:
        raise UserError(f"--path {spec!r}: the sender's layer must come before the receiver's (a head reads "
                        f"only what earlier layers wrote)")
    return Path(senders, receivers, kind)


def check_paths_model(model: nn.Module, what: str = "path patching") -> None:
    """A residual model whose stream is a plain sum of what the sublayers write."""
    check_gpt(model, what)
    c = model.config
    if c.norm == "post":
        raise UserError(f"{what} needs a pre-LN or norm-free model: in a post-LN block the LayerNorm after each "
                        f"sublayer rescales the whole residual stream, so it is not a sum of the parts")
    if not c.residual:
        raise UserError(f"{what} needs residual connections: without them no head writes into a stream "
                        f"that later layers read")


def layer_input(layer: int) -> str:
    """The named point whose value enters block `layer` (the residual stream there)."""
    return "embed" if layer == 0 else f"blocks.{layer - 1}.out"


@torch.no_grad()
def sender_outputs(model: nn.Module, idx: torch.Tensor, senders: list[Head]) -> torch.Tensor:
    """Σ over `senders` of each head's output through W_O on idx (B, T) -> (B, T, C)."""
    layers = sorted({l for l, _ in senders})
    with record(model, *[f"blocks.{l}.attn.z" for l in layers]) as rec:
        model(idx)
    total = 0.0
    for l in layers:
        out = head_outputs(rec[f"blocks.{l}.attn.z"], model.blocks[l].attn)  # (B, T, H, C)
        total = total + out[:, :, [h for sl, h in senders if sl == l]].sum(dim=2)  # (B, T, C)
    return total


@torch.no_grad()
def path_forward(model: nn.Module, idx: torch.Tensor, path: Path, delta: torch.Tensor) -> torch.Tensor:
    """The logits (B, T, V) of idx (B, T) when only the receivers' `path.input` sees the stream
    entering their layer changed by `delta` (B, T, C); the two passes of the module docstring."""
    layer = path.receiver_layer
    point = f"blocks.{layer}.attn.{path.input}"  # (B, H, T, D)

    def add_delta(x: torch.Tensor, name: str) -> torch.Tensor:
        return x + delta

    with intervene(model, {layer_input(layer): add_delta}), record(model, point) as rec:
        model(idx)
    changed = rec[point]
    heads = [h for _, h in path.receivers]

    def use_changed(value: torch.Tensor, name: str) -> torch.Tensor:
        value[:, heads] = changed[:, heads]
        return value

    with intervene(model, {point: use_changed}):
        return model(idx)[0]


def removal(outputs: torch.Tensor, mode: str) -> torch.Tensor:
    """The delta that removes the senders' outputs (B, T, C): all of it (zero), or all but its mean
    over every position of the batch (mean)."""
    if mode not in ABLATIONS:
        raise UserError(f"unknown --path-ablate {mode!r}; choose one of {', '.join(ABLATIONS)}")
    return -outputs if mode == "zero" else outputs.mean(dim=(0, 1), keepdim=True) - outputs


def path_patch(model: nn.Module, pair: Pair, path: Path, ablate: str | None = None) -> dict:
    """The path's effect on LD: {"path", "input", "ablate", "ld", "value"}, `value` normalised as
    in activation patching. Without `ablate`: the clean senders' outputs into the corrupt run (1:
    this path alone restores the answer). With `ablate`: the clean run with the senders' outputs
    removed from this path only (1: no effect, 0: as bad as the corrupt text)."""
    check_paths_model(model)
    ld_clean, ld_corrupt = baseline_lds(model, pair)
    if ablate is None:
        run = pair.corrupt
        delta = sender_outputs(model, pair.clean, path.senders) - sender_outputs(model, run, path.senders)
    else:
        run = pair.clean
        delta = removal(sender_outputs(model, run, path.senders), ablate)
    ld = pair.ld(path_forward(model, run, path, delta)).item()
    return {"path": str(path), "input": INPUTS[path.input], "ablate": ablate, "ld": ld,
            "value": normalised(torch.tensor(ld), ld_clean, ld_corrupt).item(),
            "ld_clean": ld_clean, "ld_corrupt": ld_corrupt}


def removed_forward(model: nn.Module, idx: torch.Tensor, path: Path, mode: str = "zero") -> torch.Tensor:
    """The logits (B, T, V) of idx with the senders' outputs removed from the receivers' input only."""
    check_paths_model(model)
    return path_forward(model, idx, path, removal(sender_outputs(model, idx, path.senders), mode))

