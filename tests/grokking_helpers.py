"""What the grokking lab's tests share: the short settings, the flags they map onto, and the
bad-input workspace's command and the settings its run was trained with."""

from __future__ import annotations

SHORT = dict(p=23, train_fraction=0.3, lr=3e-3, weight_decay=0.0, eval_interval=50)

G = ["grokking", "--no-progress", "--no-png"]
OLD = ["--p", "5", "--steps", "20", "--eval-interval", "10"]  # the settings runs/g was trained with


def flags(settings: dict) -> list[str]:
    return [arg for k, v in settings.items() for arg in (f"--{k.replace('_', '-')}", str(v))]
