"""AdamW stepped by PyTorch's fused kernel, with nothing around it.

`torch.optim.AdamW(fused=True)` runs one kernel over all the parameters, but its constructor,
`step` and `zero_grad` first import `torch._dynamo` (for torch.compile's sake: about 1.5 s of CPU at a run's
start, whether or not anything is compiled) and regroup the tensors at every step. `FusedAdamW`
is that optimizer (same class, same state, same checkpoints) whose `step` hands the kernel its
lists directly:

    step_count += 1
    p = p - lr * weight_decay * p                          # decoupled weight decay
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad²
    p = p - lr * (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + eps)

It gives bit for bit what `torch.optim.AdamW(fused=True)` gives (tests/fast/test_adamw.py). A
case it does not cover (a GradScaler's scale, parameters on several devices or of several
dtypes, amsgrad, maximize) is stepped by torch's own code.
"""

from __future__ import annotations

import torch


def _unwrapped(function):
    return getattr(function, "__wrapped__", function)


class FusedAdamW(torch.optim.AdamW):
    """`torch.optim.AdamW(params, ..., fused=True)` with a lean `step` and `zero_grad`."""

    def __init__(self, params, **kwargs):
        super().__init__(params, fused=True, **kwargs)

    # torch wraps add_param_group, state_dict and load_state_dict so that their first call imports
    # torch._dynamo; the functions underneath (functools.wraps keeps them as __wrapped__) are the
    # same code
    def add_param_group(self, param_group: dict) -> None:
        _unwrapped(torch.optim.Optimizer.add_param_group)(self, param_group)

    def state_dict(self) -> dict:
        return _unwrapped(torch.optim.Optimizer.state_dict)(self)

    def load_state_dict(self, state_dict: dict) -> None:
        _unwrapped(torch.optim.Optimizer.load_state_dict)(self, state_dict)

    def _lean(self, params: list[torch.Tensor], group: dict) -> bool:
        return (getattr(self, "grad_scale", None) is None and getattr(self, "found_inf", None) is None
                and not group["amsgrad"] and not group["maximize"] and not group["capturable"]
                and not group["differentiable"] and not torch.is_tensor(group["lr"])
                and len({(p.device, p.dtype) for p in params}) == 1)

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            return super().step(closure)
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if not self._lean(params, group):
                return super().step()  # torch's own code, for every group at once
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            states = [self.state[p] for p in params]
            for p, state in zip(params, states):
                if not state:  # the state torch's AdamW(fused=True) creates, so checkpoints are the same
                    state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            steps = [s["step"] for s in states]
            torch._foreach_add_(steps, 1)
            beta1, beta2 = group["betas"]
            torch._fused_adamw_(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                                [s["exp_avg_sq"] for s in states], [], steps, amsgrad=False, lr=group["lr"],
                                beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"],
                                maximize=False, grad_scale=None, found_inf=None)
        return None

    def zero_grad(self, set_to_none: bool = True) -> None:
        if not set_to_none:
            return super().zero_grad(set_to_none=False)
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None
