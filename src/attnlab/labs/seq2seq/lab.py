"""`attnlab seq2seq` as a lab (labs/shape.py): run(settings, progress) prepares, trains and
measures one run (run.py) and returns a Seq2SeqResult, whose to_json() is `attnlab seq2seq --json`
and the web lab's answer, and report(result) the text the command prints:

    plus2-regression  {"task", "predictions": {"src", "target", "teacher_forced", "autoregressive"},
                       "cross_attention": {"anti", "mass", "uniform"}}
    a token task      {"task", "step", "interrupted", "accuracy", "examples": [{"src", "got", "want"}],
                       "cross_attention"} (no accuracy, examples or cross_attention when interrupted)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attnlab.labs.seq2seq.run import (Alignment, RegressionResult, TokenTaskResult, draw_positional_encoding,
                                      prepare_run, train_and_evaluate)
from attnlab.labs.seq2seq.settings import Seq2SeqRunConfig
from attnlab.train.loop import EventFn


@dataclass
class Seq2SeqResult:
    settings: Seq2SeqRunConfig
    result: RegressionResult | TokenTaskResult

    @property
    def interrupted(self) -> bool:
        return getattr(self.result, "interrupted", False)

    def to_json(self) -> dict[str, Any]:
        r, task = self.result, self.settings.task
        if isinstance(r, RegressionResult):
            return {"task": task, "predictions": r.predictions, "cross_attention": _alignment(r.alignment)}
        out = {"task": task, "step": r.step, "interrupted": r.interrupted}
        if not r.interrupted:
            out.update(accuracy=r.accuracy, examples=[e._asdict() for e in r.examples],
                       cross_attention=_alignment(r.alignment))
        return out


def _alignment(alignment: Alignment) -> dict[str, Any]:
    return alignment._asdict()


def run(settings: Seq2SeqRunConfig, progress: EventFn) -> Seq2SeqResult:
    """Prepare (every size checked before anything is written), draw settings.pe_png, train and
    measure. `progress` hears the training loop's events and "note" lines ({"line"}) before them."""
    prepared = prepare_run(settings)
    if settings.pe_png:
        draw_positional_encoding(prepared)
        progress("note", {"line": f"wrote {settings.pe_png} (positional encoding, d_model {prepared.model.d_model})"})
    if prepared.resume:
        progress("note", {"line": f"resuming {settings.out} from its checkpoint"})
    task = prepared.task
    if task is not None:
        progress("note", {"line": f"task {task.name}: values 0..{task.vocab - 1}, lengths {task.min_len}.."
                                  f"{task.max_len}"})
    return Seq2SeqResult(settings, train_and_evaluate(prepared, progress))


def report(result: Seq2SeqResult) -> list[str]:
    s, r = result.settings, result.result
    if isinstance(r, RegressionResult):
        lines = regression_lines(r)
    elif r.interrupted:
        return [f"interrupted at step {r.step}" + (f": checkpoint saved in {s.out}; continue with --resume" if s.out
                                                   else " (nothing saved: no --out)")]
    else:
        decoding = "greedy" if s.beam == 1 else f"beam {s.beam}"
        lines = [f"held-out exact match ({s.eval_size} sequences never seen in training, {decoding}): "
                 f"{r.accuracy:.2%}"]
        lines += [f"  {src} -> {got} {'ok' if got == want else f'(expected {want})'}" for src, got, want in r.examples]
    lines += alignment_lines(s.task, r.alignment, s.png)
    if isinstance(r, RegressionResult) and s.out:
        lines.append(f"saved {s.out}")
    return lines


def regression_lines(r: RegressionResult) -> list[str]:
    fmt = lambda xs: "[" + ", ".join(f"{x:.2f}" for x in xs) + "]"  # noqa: E731
    p = r.predictions
    return ["\n--- after training ---",
            f"input:                        {fmt(p['src'])}",
            f"target:                       {fmt(p['target'])}",
            f"prediction (teacher-forced):  {fmt(p['teacher_forced'])}",
            f"prediction (autoregressive):  {fmt(p['autoregressive'])}",
            "teacher-forced: the decoder is fed the true previous targets [0, 12, 22, 32, 42], as in training\n"
            "  (what seed 002 prints). autoregressive: it is fed its own previous predictions, starting from 0,\n"
            "  as it must be when the answer is unknown; each step's error becomes the next step's input, so\n"
            "  errors compound along the sequence. 500 epochs leave this model under-trained (loss still falling);\n"
            "  try --steps 3000 to see the two predictions part ways."]


def alignment_lines(name: str, alignment: Alignment, png: str | None) -> list[str]:
    if alignment.anti is None:
        lines = [f"cross-attention: {name} has no fixed source position per step (no diagonal to measure)"]
    else:
        lines = [f"cross-attention {'anti-diagonal' if alignment.anti else 'diagonal'} mass (1.0 = step i reads "
                 f"exactly its aligned source token; uniform would be about {alignment.uniform:.2f}):"]
        lines += [f"  {module}: " + "  ".join(f"head {h} {m:.2f}" for h, m in enumerate(mass))
                  for module, mass in alignment.mass.items()]
    return lines + ([f"wrote {png}"] if png else [])


