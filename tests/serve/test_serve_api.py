"""The web lab's lens, ablate and why panels answer what `attnlab lens`, `ablate` and `why --json`
print, and concurrent ablations never see each other (the run and the lab: conftest.py)."""

from __future__ import annotations

import json
import random
import threading

import pytest
import torch

pytest.importorskip("starlette", reason="attnlab serve needs starlette: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="attnlab serve needs uvicorn: pip install -e '.[serve]'")

from serve_helpers import RUN_TEXT as TEXT  # noqa: E402
from train_helpers import cli_main, one_thread  # noqa: E402,F401 (an autouse fixture)


def cli_json(capsys, *argv) -> dict:
    assert cli_main([str(a) for a in argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_lens_ablate_why_follow_the_cli_json(lab, runs, capsys, model, tokenizer):
    lens = lab.ok("lens", {"run": "r", "text": TEXT, "k": 3})
    cli = cli_json(capsys, "lens", TEXT, "--run", runs / "r", "--k", "3", "--json")
    assert {k: lens[k] for k in cli} == cli
    assert lens == cli  # one run, one to_json()
    assert [[cell[0]["token"] for cell in row] for row in lens["top_k"]] == cli["top"]  # the first guess is "top"
    assert all(len(cell) == 3 for row in lens["top_k"] for cell in row)

    ablate = lab.ok("ablate", {"run": "r", "text": TEXT, "heads": [[0, 1], [1, 0]], "position": 4})
    cli = cli_json(capsys, "ablate", "--run", runs / "r", "--text", TEXT, "--heads", "0.1,1.0", "--json")
    assert ablate["set"] == cli["set"] and ablate["heads"] == cli["heads"]
    assert ablate["baseline_loss"] == cli["baseline_loss"]
    quick = lab.ok("ablate", {"run": "r", "text": TEXT, "heads": [[0, 1], [1, 0]], "each": False})  # a click
    assert "heads" not in quick and quick["set"] == cli["set"] and quick["baseline_loss"] == cli["baseline_loss"]
    # the next-token distribution at position 4, against the model run with the heads' z zeroed by hand
    idx = torch.tensor([tokenizer.encode(TEXT)])
    with torch.no_grad():
        hooks = []
        for layer, head in ((0, 1), (1, 0)):
            attn = model.blocks[layer].attn
            D = attn.d_head

            def pre(module, args, head=head, D=D):  # W_O's input (B, T, C) = the heads side by side
                x = args[0].clone()
                x[..., head * D:(head + 1) * D] = 0
                return (x,)
            hooks.append(attn.proj.register_forward_pre_hook(pre))
        try:
            logits, _ = model(idx)
        finally:
            for h in hooks:
                h.remove()
    expected = logits[0, 4].softmax(-1)
    top = ablate["next"]["ablated"]
    assert [t["id"] for t in top] == expected.topk(len(top)).indices.tolist()
    torch.testing.assert_close(torch.tensor([t["p"] for t in top]), expected.topk(len(top)).values.float(), atol=2e-6, rtol=0)
    assert ablate["next"]["actual"]["token"] == tokenizer.token_strings(idx[0, 5:6].tolist())[0] == "␣"

    from attnlab.why.answers import why

    answer = lab.ok("why", {"run": "r", "text": TEXT, "from": 12, "to": 3, "vs": 6})
    assert answer == json.loads(json.dumps(why(model, idx, 12, 3, 6, tokens=answer["tokens"])))
    for to, vs, later in ((13, 6, "'to'"), (3, 13, "'vs'")):  # the message names the field that looks ahead
        status, answer = lab.post("why", {"run": "r", "text": TEXT, "from": 12, "to": to, "vs": vs})
        assert status == 400 and answer["code"] == "future_token" and later in answer["error"]


def test_concurrent_requests_never_see_each_others_ablation(lab):
    """Ablations of every head run beside plain attention and lens requests: each answer equals
    the one the same request gets alone."""
    texts = ["First Citizen: hear me", "Speak, speak.", "All: resolved"]
    bodies = [(name, {"run": "r", "text": t, **extra}) for t in texts
              for name, extra in (("attention", {}), ("lens", {}),
                                  ("ablate", {"heads": [[0, 0], [0, 1], [1, 0], [1, 1]]}), ("ablate", {"heads": []}))]
    alone = [lab.ok(name, body) for name, body in bodies]
    failures = []

    def client(k: int) -> None:
        order = random.Random(k).sample(range(len(bodies)), len(bodies))
        for i in order:
            name, body = bodies[i]
            status, answer = lab.post(name, body)
            if status != 200 or answer != alone[i]:
                failures.append((name, body["text"], status))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
