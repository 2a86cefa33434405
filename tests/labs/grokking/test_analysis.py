"""attnlab.labs.grokking.analysis: the phases, the `--json` summary, the story's numbers and the
neurons' frequencies, against hand-built histories and a hook of their own."""

from __future__ import annotations

import pytest
import torch

from attnlab.labs.grokking.analysis import (at_step, first_step, neuron_spectrum, report_markdown, share_then, story,
                                            summary)
from attnlab.labs.grokking.config import GrokConfig
from attnlab.labs.grokking.data import addition_table
from attnlab.labs.grokking.fourier import fourier_basis, neuron_frequencies
from attnlab.model.gpt import GPT


def record(step, train_acc, test_acc, norms, keys, share, restricted=0.5, excluded=4.0):
    return {"step": step, "train_acc": train_acc, "test_acc": test_acc, "train_loss": 3.0 - step / 100,
            "test_loss": 3.1, "frequency_norms": norms, "key_frequencies": keys, "key_share": share,
            "restricted_loss": restricted, "excluded_loss": excluded}


# memorised at step 100 (train >= 99%), grokked at step 200 (test >= 99%)
HISTORY = [record(0, 0.1, 0.05, [1.0, 1.0, 1.0], [], 0.0),
           record(100, 1.0, 0.2, [3.0, 1.0, 1.0], [1], 9 / 11),
           record(200, 1.0, 0.995, [4.0, 0.0, 1.0], [1], 16 / 17, restricted=2.7e-07, excluded=5.123456)]


def test_the_phases_are_the_first_evaluations_at_99_percent():
    assert first_step(HISTORY, "train_acc") == 100 and first_step(HISTORY, "test_acc") == 200
    assert first_step(HISTORY, "test_acc", threshold=0.2) == 100 and first_step(HISTORY[:2], "test_acc") is None
    assert at_step(HISTORY, 100) is HISTORY[1] and at_step(HISTORY, 150) is None and at_step(HISTORY, None) is None


def test_the_summary_rounds_its_figures_to_four_significant_digits():
    s = summary(7, 0.3, 200, HISTORY, "runs/g")
    assert s == {"p": 7, "train_fraction": 0.3, "steps": 200, "memorised_at": 100, "grokked_at": 200,
                 "final": {"train_acc": 1.0, "test_acc": 0.995, "train_loss": 1.0, "test_loss": 3.1},
                 "key_frequencies": [1], "key_share": 0.9412, "restricted_loss": 2.7e-07, "excluded_loss": 5.123,
                 "run": "runs/g"}


def test_the_story_quotes_the_runs_own_numbers():
    s = summary(7, 0.3, 200, HISTORY, "runs/g")
    assert share_then(HISTORY, 100, [1]) == pytest.approx(9 / 11) and share_then(HISTORY, None, [1]) is None
    assert story(s, HISTORY) == [
        "The model saw 14 of the 49 sums a + b mod 7 (30%) and trained for 200 full-batch steps; "
        "chance is 1 in 7 (14.3%).",
        "By step 100 it knew every training sum by heart (train accuracy >= 99%) while getting 20.0% of the "
        "unseen sums right: memorisation.",
        "Then, with no new data, it grokked: test accuracy passed 99% at step 200, 2.0x the steps it took to "
        "memorise.",
        "Its embedding now puts each number on 1 circle(s), frequencies 1: they hold 94% of the embedding's norm, "
        "against 82% at memorisation. Keeping only their cos/sin(w(a + b)) parts of the logits gives a loss of "
        "2.7e-07 (the restricted loss); removing them leaves 5.12 on the very pairs it trained on (the excluded "
        "loss)."]


def test_the_story_of_a_run_that_never_memorised_or_has_not_grokked_yet():
    never = [record(0, 0.5, 0.1, [1.0, 1.0, 1.0], [], 0.0)]
    paragraphs = story(summary(7, 0.3, 10, never, "r"), never)
    assert len(paragraphs) == 2 and paragraphs[1] == "It never memorised its training pairs: train accuracy ended " \
                                                       "at 50.0%."
    waiting = HISTORY[:2]
    paragraphs = story(summary(7, 0.3, 100, waiting, "r"), waiting)
    assert paragraphs[2] == ("It has not generalised yet: test accuracy is 20.0% after 100 steps. Train longer "
                             "(--steps, --resume) and watch the restricted loss.")
    flat = [record(0, 1.0, 0.1, [1.0, 1.0, 1.0], [], 0.0)]
    assert story(summary(7, 0.3, 10, flat, "r"), flat)[-1] == ("No frequency stands out in its embedding yet: no "
                                                               "Fourier circuit has formed.")


def test_the_report_is_the_story_a_table_and_the_picture():
    s = summary(7, 0.3, 200, HISTORY, "runs/g")
    text = report_markdown(s, ["One.", "Two."], "grokking.png")
    assert text.startswith("# Grokking a + b mod 7\n\nOne.\n\nTwo.\n\n| measure | value |\n|---|---|\n")
    for row in ("| memorised at step | 100 |", "| grokked at step | 200 |", "| final test accuracy | 99.5% |",
                "| key frequencies | 1 |", "| their share of the norm | 94% |", "| restricted loss | 2.7e-07 |",
                "| excluded loss | 5.123 |"):
        assert row + "\n" in text
    assert text.endswith("![training, spectrum and neurons](grokking.png)\n")


def test_the_neuron_spectrum_reads_the_hidden_layer_at_equals():
    cfg = GrokConfig(p=5)
    torch.manual_seed(0)
    model = GPT(cfg.model_config()).eval()
    inputs, _ = addition_table(5)
    seen = []
    handle = model.blocks[0].ffwd.down.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        freqs, shares = neuron_spectrum(model, inputs, 5)
    finally:
        handle.remove()
    want_freqs, want_shares = neuron_frequencies(seen[0][:, -1], fourier_basis(5)[0])  # (p*p, d_ff) at '='
    assert len(freqs) == 512 and freqs == want_freqs.tolist()
    assert shares == pytest.approx(want_shares.tolist())
    assert set(freqs) <= {1, 2} and all(0.0 <= x <= 1.0 + 1e-6 for x in shares)
