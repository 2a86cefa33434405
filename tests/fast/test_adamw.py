"""FusedAdamW: bit for bit torch.optim.AdamW(fused=True), its state interchangeable, and no torch._dynamo import."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import torch

import attnlab
from attnlab.fast.adamw import FusedAdamW


def model_and_groups(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.LayerNorm(7), torch.nn.Linear(7, 3))
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return model, groups


def train(model, optimizer, steps: int, start: int = 0) -> None:
    generator = torch.Generator().manual_seed(start)
    for step in range(start, start + steps):
        for group in optimizer.param_groups:
            group["lr"] = 1e-2 / (1 + step)  # a changing rate, as the schedule sets it
        x = torch.randn(4, 5, generator=generator)
        model(x).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def test_the_same_weights_and_state_as_torch_fused_adamw():
    ours, groups = model_and_groups()
    theirs, their_groups = model_and_groups()
    ours_opt = FusedAdamW(groups, lr=1e-2, betas=(0.9, 0.99))
    their_opt = torch.optim.AdamW(their_groups, lr=1e-2, betas=(0.9, 0.99), fused=True)
    train(ours, ours_opt, 5)
    train(theirs, their_opt, 5)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)
        assert a.grad is None and b.grad is None
    for a, b in zip(ours_opt.state.values(), their_opt.state.values()):
        assert a.keys() == b.keys() == {"step", "exp_avg", "exp_avg_sq"}
        assert all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    # a checkpoint of one resumes in the other, exactly
    resumed, resumed_groups = model_and_groups()
    resumed.load_state_dict(ours.state_dict())
    resumed_opt = torch.optim.AdamW(resumed_groups, lr=1e-2, betas=(0.9, 0.99), fused=True)
    resumed_opt.load_state_dict(copy.deepcopy(ours_opt.state_dict()))  # a checkpoint holds a copy
    train(ours, ours_opt, 3, start=5)
    train(resumed, resumed_opt, 3, start=5)
    for a, b in zip(ours.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_a_step_and_a_checkpoint_do_not_import_dynamo():
    code = ("import sys, torch\nfrom attnlab.fast.adamw import FusedAdamW\n"
            "m = torch.nn.Linear(3, 2)\nopt = FusedAdamW(m.parameters(), lr=0.1)\n"
            "m(torch.ones(1, 3)).sum().backward()\ntorch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)\n"
            "opt.step()\nopt.zero_grad()\nopt.load_state_dict(opt.state_dict())\n"
            "print('torch._dynamo' in sys.modules)\n")
    src = str(Path(attnlab.__file__).resolve().parents[1])  # this checkout's attnlab, not an installed one
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"
