"""The induction-head lab: score heads, train 1- and 2-layer attention-only models, ablate.

- `detect_heads(model, n)` (scores.py): every head's previous-token, induction and duplicate-token
  score on n random tokens repeated twice; `head_scores(weights, n)` is the pure arithmetic;
- `repeat_stream(...)` (data.py): the training stream of random chunks that come twice;
- `copy_losses(model, ids, n, heads)` and `causal_check(...)` (ablation.py): the in-context loss,
  with heads zeroed through `attnlab.intervene`;
- `run_lab(LabConfig(), out_dir)` (lab.py, config.py): the whole experiment, `attnlab induction`,
  returning a `ModelResult` (results.py) per model; report.py puts them in words and figures.

Import each from its module: this package imports nothing, so `attnlab induction --help` reads
LabConfig's defaults (config.py) without loading torch.
"""
