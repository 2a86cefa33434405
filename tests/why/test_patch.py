"""Activation patching against an independent reference: a run exported with `export-hf` and
patched in `transformers.GPT2LMHeadModel` with plain PyTorch forward hooks (the run: conftest.py)."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never the network

import pytest
import torch
from torch.testing import assert_close

from train_helpers import cli_main, one_thread  # noqa: E402,F401 (an autouse fixture)
from why_helpers import CLEAN, CORRUPT  # noqa: E402

from attnlab.runs.checkpoint import load_model  # noqa: E402
from attnlab.why.logit_diff import make_pair  # noqa: E402
from attnlab.why.patch import patch_tables  # noqa: E402

transformers = pytest.importorskip("transformers")


def hf_tables(hf, clean: torch.Tensor, corrupt: torch.Tensor, position: int, answer: int, wrong: int,
              point: str, direction: str) -> list[list[float]]:
    """The patching table of `point`, computed in transformers' GPT-2 with forward hooks only."""
    blocks, L = hf.transformer.h, len(hf.transformer.h)
    if point == "resid":  # the input of each block, then the input of ln_f
        modules, where = [*blocks, hf.transformer.ln_f], "input"
    elif point == "attn":
        modules, where = [b.attn for b in blocks], "output"
    else:
        modules, where = [b.mlp for b in blocks], "output"
    run, source = (corrupt, clean) if direction == "denoising" else (clean, corrupt)

    def ld(idx: torch.Tensor) -> float:
        logits = hf(idx).logits[0, position]
        return (logits[answer] - logits[wrong]).item()

    def hook(module, fn):
        if where == "input":
            return module.register_forward_pre_hook(lambda m, args: (fn(args[0]), *args[1:]))
        return module.register_forward_hook(
            lambda m, args, out: (fn(out[0]), *out[1:]) if isinstance(out, tuple) else fn(out))

    with torch.no_grad():
        ld_clean, ld_corrupt = ld(clean), ld(corrupt)
        table = []
        for module in modules:
            saved = {}

            def keep(x):
                saved["x"] = x.clone()
                return x

            handle = hook(module, keep)
            hf(source)
            handle.remove()
            row = []
            for t in range(run.shape[1]):
                def put(x, t=t):
                    x = x.clone()
                    x[:, t] = saved["x"][:, t]
                    return x
                handle = hook(module, put)
                row.append((ld(run) - ld_corrupt) / (ld_clean - ld_corrupt))
                handle.remove()
            table.append(row)
    assert len(table) == (L + 1 if point == "resid" else L)
    return table


@pytest.mark.parametrize("direction", ["denoising", "noising"])
def test_patching_equals_transformers_with_forward_hooks(run_dir, direction):
    model, tok = load_model(run_dir)
    model.eval()
    hf = transformers.GPT2LMHeadModel.from_pretrained(run_dir.parent / "hf", local_files_only=True).eval()
    clean, corrupt = torch.tensor([tok.encode(CLEAN)]), torch.tensor([tok.encode(CORRUPT)])
    answer, wrong = tok.encode("e")[0], tok.encode("a")[0]
    pair = make_pair(model, clean, corrupt, position=None, answer=answer, wrong=wrong)
    ours = patch_tables(model, pair, ["resid", "attn", "mlp"], direction)
    for point in ("resid", "attn", "mlp"):
        theirs = hf_tables(hf, clean, corrupt, pair.position, answer, wrong, point, direction)
        assert_close(torch.tensor(ours[point]), torch.tensor(theirs), atol=1e-5, rtol=0)
    # the last stream at the read position is everything: patching it restores all of LD
    assert ours["resid"][-1][-1] == pytest.approx(1.0 if direction == "denoising" else 0.0, abs=1e-5)


def test_heads_tables_patch_each_heads_slice_of_the_merged_heads(run_dir):
    """heads and heads-pos against transformers: the slice of c_proj's input that is head h."""
    model, tok = load_model(run_dir)
    model.eval()
    hf = transformers.GPT2LMHeadModel.from_pretrained(run_dir.parent / "hf", local_files_only=True).eval()
    clean, corrupt = torch.tensor([tok.encode(CLEAN)]), torch.tensor([tok.encode(CORRUPT)])
    pair = make_pair(model, clean, corrupt, answer=tok.encode("e")[0], wrong=tok.encode("a")[0])
    ours = patch_tables(model, pair, ["heads", "heads-pos"])
    D = model.config.d_head

    def ld(idx):
        logits = hf(idx).logits[0, pair.position]
        return (logits[pair.answer] - logits[pair.wrong]).item()

    with torch.no_grad():
        ld_clean, ld_corrupt = ld(clean), ld(corrupt)
        for l, block in enumerate(hf.transformer.h):
            saved = {}
            handle = block.attn.c_proj.register_forward_pre_hook(lambda m, a: saved.update(x=a[0].clone()))
            hf(clean)
            handle.remove()
            for h in range(model.config.n_heads):
                for t in [None, *range(clean.shape[1])]:
                    cols, rows = slice(h * D, (h + 1) * D), slice(None) if t is None else slice(t, t + 1)

                    def put(m, a):
                        x = a[0].clone()
                        x[:, rows, cols] = saved["x"][:, rows, cols]
                        return (x,)

                    handle = block.attn.c_proj.register_forward_pre_hook(put)
                    want = (ld(corrupt) - ld_corrupt) / (ld_clean - ld_corrupt)
                    handle.remove()
                    got = ours["heads"][l][h] if t is None else ours["heads-pos"][l][h][t]
                    assert got == pytest.approx(want, abs=1e-5)


def test_patch_json_holds_exactly_the_contracts_keys(run_dir, capsys, tmp_path):
    png, page = tmp_path / "p.png", tmp_path / "p.html"
    assert cli_main(["patch", "--run", str(run_dir), "--clean", CLEAN, "--corrupt", CORRUPT, "--json",
                     "--png", str(png), "--html", str(page)]) == 0
    out = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert set(out) == {"clean", "corrupt", "tokens_clean", "tokens_corrupt", "position", "answer", "wrong",
                        "ld_clean", "ld_corrupt", "resid", "attn", "mlp", "heads"}
    assert (len(out["resid"]), len(out["resid"][0])) == (3, 16) and (len(out["heads"]), len(out["heads"][0])) == (2, 2)
    assert out["position"] == 15 and out["clean"] == CLEAN and len(out["tokens_corrupt"]) == 16
    assert png.read_bytes()[:4] == b"\x89PNG" and "resid" in page.read_text(encoding="utf-8")
    assert cli_main(["patch", "--run", str(run_dir), "--clean", CLEAN, "--corrupt", CORRUPT, "--points", "attn",
                     "--method", "both"]) == 0
    text = capsys.readouterr().out
    assert "correlation of attribution with exact patching, attn" in text and "Speak" not in text.split("\n")[0]
