"""The induction-head lab: score heads, train 1- and 2-layer attention-only models, ablate.

- `detect_heads(model, n)` (scores.py): every head's previous-token, induction and duplicate-token
  score on n random tokens repeated twice; `head_scores(weights, n)` is the pure arithmetic;
- `repeat_stream(...)` (data.py): the training stream of random chunks that come twice;
- `copy_losses(model, ids, n, heads)` and `causal_check(...)` (ablation.py): the in-context loss,
  with heads zeroed through `attnlab.intervene`;
- `run_lab(LabConfig(), out_dir)` (lab.py): the whole experiment, `attnlab induction`.
"""

from attnlab.labs.induction.ablation import causal_check, copy_losses
from attnlab.labs.induction.data import repeat_stream
from attnlab.labs.induction.lab import LabConfig, run_lab
from attnlab.labs.induction.scores import HeadScores, detect_heads, head_scores, repeated_tokens

__all__ = ["detect_heads", "head_scores", "repeated_tokens", "HeadScores", "repeat_stream", "copy_losses",
           "causal_check", "LabConfig", "run_lab"]
