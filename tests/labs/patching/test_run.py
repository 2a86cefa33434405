"""attnlab.labs.patching.run: the patch lab on an opened tiny GPT: LD by hand, the cells patching
the last residual stream (all or nothing), the default answer tokens, both methods and a path; the
row labels, panels and the printed text by hand."""

from __future__ import annotations

import pytest
import torch

from why_helpers import TOK, tiny_gpt

from attnlab.labs.patching.run import PatchResult, format_path, panels, report, row_labels, run
from attnlab.labs.patching.settings import PatchSettings
from attnlab.sources import TextModel

CLEAN, CORRUPT = "abc dab", "abd cab"  # 7 characters each


def opened() -> TextModel:
    return TextModel(tiny_gpt().eval(), TOK, "tiny", 16)


def quiet(kind, info):
    pass


def test_ld_and_the_last_residual_stream_by_hand():
    source = opened()
    result = run(PatchSettings(run="r", clean=CLEAN, corrupt=CORRUPT, points=("resid",), answer="h", wrong="g"),
                 quiet, opened=source)
    data = result.to_json()
    a, w = TOK.encode("h")[0], TOK.encode("g")[0]
    with torch.no_grad():
        clean = source.model(torch.tensor([TOK.encode(CLEAN)]))[0][0, -1]
        corrupt = source.model(torch.tensor([TOK.encode(CORRUPT)]))[0][0, -1]
    assert data["ld_clean"] == pytest.approx((clean[a] - clean[w]).item(), abs=1e-5)
    assert data["ld_corrupt"] == pytest.approx((corrupt[a] - corrupt[w]).item(), abs=1e-5)
    assert (data["position"], data["answer"], data["wrong"]) == (6, "h", "g")
    assert data["tokens_clean"] == TOK.token_strings(TOK.encode(CLEAN)) and data["tokens_clean"][3] == "␣"
    assert data["tokens_corrupt"] == TOK.token_strings(TOK.encode(CORRUPT))
    table = data["resid"]  # rows embed, out 0, out 1, out 2; a column per position
    assert len(table) == 4 and all(len(row) == 7 for row in table)
    # the clean last residual stream at the answer's position gives the clean logits there: all of
    # LD restored; at any other position it reaches no logit at position 6: nothing
    assert table[-1] == pytest.approx([0.0] * 6 + [1.0], abs=1e-5)
    # the embeddings differ only where the texts do (positions 2 and 4): elsewhere patching one is a no-op
    assert [table[0][t] for t in (0, 1, 3, 5, 6)] == pytest.approx([0.0] * 5, abs=1e-6)
    assert table[0][2] != pytest.approx(0.0, abs=1e-3)


def test_the_default_answers_are_each_runs_top_next_token_and_noising_is_the_reverse():
    source, clean = opened(), "abc abc"  # the tiny model's next token: 'd' here, 'c' after CORRUPT
    result = run(PatchSettings(run="r", clean=clean, corrupt=CORRUPT, points=("resid",), direction="noising"),
                 quiet, opened=source)
    with torch.no_grad():
        top_clean = source.model(torch.tensor([TOK.encode(clean)]))[0][0, -1].argmax().item()
        top_corrupt = source.model(torch.tensor([TOK.encode(CORRUPT)]))[0][0, -1].argmax().item()
    assert top_clean != top_corrupt
    assert result.data["answer"] == TOK.token_strings([top_clean])[0]
    assert result.data["wrong"] == TOK.token_strings([top_corrupt])[0]
    # corrupt activations into the clean run: the last residual stream at 6 gives the corrupt LD, 0
    assert result.data["resid"][-1][-1] == pytest.approx(0.0, abs=1e-5)
    assert result.direction == "noising" and result.points == ["resid"]


def test_both_methods_bring_the_attribution_tables_and_their_correlation():
    result = run(PatchSettings(run="r", clean=CLEAN, corrupt=CORRUPT, points=("resid", "heads"), method="both",
                               answer="h", wrong="g"), quiet, opened=opened())
    data = result.to_json()
    assert set(data["attribution"]) == set(data["correlation"]) == {"resid", "heads"}
    assert len(data["heads"]) == 3 and len(data["heads"][0]) == 2  # (layers, heads)
    assert all(r is None or -1.0 - 1e-6 <= r <= 1.0 + 1e-6 for r in data["correlation"].values())
    text = report(result)
    for line, point in zip(text[-2:], ("resid", "heads")):
        r = data["correlation"][point]
        assert line == f"correlation of attribution with exact patching, {point}: " + ("-" if r is None else f"{r:.3f}")
    assert sum("(attribution)" in line for line in text) == 2


def test_a_path_answers_one_line_instead_of_tables():
    result = run(PatchSettings(run="r", clean=CLEAN, corrupt=CORRUPT, path="0.*->2.1.k", answer="h", wrong="g"),
                 quiet, opened=opened())
    data = result.to_json()
    assert result.points == [] and "resid" not in data
    assert data["path"]["input"] in ("key", "k") and data["path"]["ablate"] is None
    assert data["path"]["value"] == pytest.approx((data["path"]["ld"] - data["ld_corrupt"])
                                                  / (data["ld_clean"] - data["ld_corrupt"]), abs=1e-5)
    assert report(result) == format_path(data, "tiny")


def test_the_lab_needs_an_opened_model():
    with pytest.raises(TypeError, match="runs on an opened model"):
        run(PatchSettings(run="r", clean=CLEAN, corrupt=CORRUPT), quiet)


def test_row_labels_and_panels_by_hand():
    assert row_labels("resid", 2, 3) == ["embed", "out 0", "out 1"]
    assert row_labels("heads-pos", 2, 2) == ["0.0", "0.1", "1.0", "1.1"]
    assert row_labels("heads", 2, 3) == ["layer 0", "layer 1"] and row_labels("mlp", 2, 3) == ["mlp 0", "mlp 1"]
    data = {"tokens_clean": ["a", "\n"], "heads": [[0.5, 0.25]], "heads-pos": [[[1, 2], [3, 4]]],
            "attribution": {"heads": [[0.4, 0.2]], "heads-pos": [[[0, 0], [0, 0]]]}}
    result = PatchResult("m", 1, 2, "denoising", ["heads", "heads-pos"], data)
    assert panels(result) == [([[0.5, 0.25]], ["layer 0"], ["h0", "h1"], "heads"),
                              ([[1, 2], [3, 4]], ["0.0", "0.1"], ["0:a", "1:\\n"], "heads-pos"),
                              ([[0.4, 0.2]], ["layer 0"], ["h0", "h1"], "heads (attribution)"),
                              ([[0, 0], [0, 0]], ["0.0", "0.1"], ["0:a", "1:\\n"], "heads-pos (attribution)")]


def test_the_printed_header_and_the_paths_sentences_by_hand():
    data = {"answer": "h", "wrong": "g", "position": 6, "ld_clean": 1.5, "ld_corrupt": -0.25,
            "tokens_clean": ["a", "b"], "attn": [[0.5, None]]}
    lines = report(PatchResult("tiny", 1, 2, "noising", ["attn"], data))
    assert lines[0] == "tiny: LD = logit['h'] - logit['g'] at position 6: clean +1.500, corrupt -0.250"
    assert lines[1] == ("each cell: corrupt activations into the clean run, (LD_patched - LD_corrupt) / "
                        "(LD_clean - LD_corrupt); 1 = the clean answer")
    assert lines[3].splitlines()[-1].split() == ["attn", "0", "0.50", "-"]
    path = {"path": "0.1->1.0.k", "input": "key", "ld": 0.75, "value": 0.571, "ablate": None}
    assert format_path({**data, "path": path}, "tiny")[1] == (
        "path 0.1->1.0.k: the senders' clean output into the receivers' key input only, in the corrupt run: "
        "LD +0.750, 0.571 of the way to the clean answer")
    assert format_path({**data, "path": {**path, "ablate": "mean"}}, "tiny")[1] == (
        "path 0.1->1.0.k: the senders' output removed (mean) from the receivers' key input only, in the clean "
        "run: LD +0.750, 0.571 of the clean LD's lead over the corrupt one kept")
