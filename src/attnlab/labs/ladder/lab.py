"""The ladder as a lab (labs/shape.py): `run(settings, progress)` climbs it with rungs.run_ladder
and returns a LadderResult; `report(result)` is what `attnlab ladder` prints."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from attnlab.labs.ladder.report import table_rows, text_table
from attnlab.labs.ladder.rungs import EventFn, run_ladder
from attnlab.labs.ladder.settings import LadderSettings

JSON_KEYS = ("name", "params", "val_loss", "seconds", "run")  # of each rung, in --json


@dataclass
class LadderResult:
    dir: str  # the ladder folder
    rungs: list[dict[str, Any]]  # the records of ladder.json, as far as the ladder got
    interrupted: bool  # stopped by Ctrl-C in the last rung listed

    def to_json(self) -> dict[str, Any]:
        """`attnlab ladder --json` and the web lab's answer: {"rungs": [{"name", "params", "val_loss",
        "seconds", "run"}]}."""
        return {"rungs": [{key: r[key] for key in JSON_KEYS} for r in self.rungs]}


def run(settings: LadderSettings, progress: EventFn, runtime=None, device: str = "auto") -> LadderResult:
    """Train (or reuse) every rung into settings.folder. `runtime`: the caller's decision of device,
    precision and threads for `device` (none: run_ladder decides for "auto")."""
    result = run_ladder(settings.corpus, settings.folder, steps=settings.steps, scaled=settings.scaled,
                        on_event=progress, runtime=runtime, eval_iters=settings.eval_iters, seed=settings.seed,
                        device=device)
    return LadderResult(result["dir"], result["rungs"], result["interrupted"])


def report(result: LadderResult) -> list[str]:
    """The rung table, the files, and what to try next (or how to go on after Ctrl-C)."""
    records = result.rungs
    lines = [text_table(table_rows(records)),
             f"\nfiles: {result.dir}/ (ladder.md, ladder.png, ladder.json, a run folder per rung)"]
    if result.interrupted:
        return lines + [interrupted_line(result)]
    lines += unranked_lines(records)
    lines += ["next:", f"  attnlab generate --run {shlex.quote(records[-1]['run'])} --max-new-tokens 300"]
    if len(records) > 1:
        lines.append(f"  attnlab attention TEXT --run {shlex.quote(records[1]['run'])}   # the single head's map")
    return lines


def unranked_lines(records: list[dict[str, Any]]) -> list[str]:
    """A word when a rung ended above the rung before it: each rung adds a part to the one before,
    so the ladder was too short to rank them (the lecture's 5000 steps rank them in order)."""
    worse = [(a, b) for a, b in zip(records, records[1:])
             if a.get("val_loss") is not None and b.get("val_loss") is not None and b["val_loss"] > a["val_loss"]]
    if not worse:
        return []
    a, b = worse[0]
    return [f"\nnot yet ranked: {b['name']} ended above {a['name']} ({b['val_loss']:.3f} > {a['val_loss']:.3f}) after "
            f"{b.get('step', '?')} steps a rung; the parts show what they buy with the default --steps 5000"]


def interrupted_line(result: LadderResult) -> str:
    return (f"interrupted in rung {len(result.rungs)} ({result.rungs[-1]['name']}): run the same command again "
            f"to continue")
