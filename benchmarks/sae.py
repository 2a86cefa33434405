"""The SAE lab against its targets: `attnlab sae` with its defaults on a copy of the default run.

    PYTHONPATH=src python benchmarks/sae.py                                   # copies the default run first
    PYTHONPATH=src python benchmarks/sae.py --run /work/shared-runs/runs/cpu-shakespeare-char --keep runs/sae-bench

The targets (issue 23), on blocks.0.ffwd.hidden (512 neurons) with 4x expansion (2048 features):
loss recovered >= 80% with L0 <= 40, dead features <= 10%, trained in <= 10 minutes of wall time
(collecting the activations not included; printed apart). Then the specificity measure (the share
of a unit's 50 strongest activations on its most frequent token) as a median over the SAE's
features and over the neurons, both printed, whichever is higher. Nothing is asserted: each target
is printed with "met" or "MISSED", with the CPU and the load average.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from grokking import cpu_name  # the benchmarks' one "model name" line of /proc/cpuinfo
from attnlab.labs.sae.lab import open_browser, run_sae
from attnlab.labs.sae.settings import SAERequest

DEFAULT_RUN = "/work/shared-runs/runs/cpu-shakespeare-char"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=DEFAULT_RUN, help=f"the trained run, copied first (default: {DEFAULT_RUN})")
    parser.add_argument("--keep", help="copy the run here and keep it (default: a temporary folder)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="attnlab-sae-")) / "run"
    if work.exists():
        raise SystemExit(f"{work} exists: pick another --keep")
    shutil.copytree(args.run, work)  # the run is never written: the SAE goes into the copy
    request = SAERequest()
    marks: dict[str, float] = {}

    def on_event(kind: str, info: dict) -> None:
        if kind == "start" or (kind == "eval" and info["step"] == 0):
            marks.setdefault("train_start", time.perf_counter())
        if kind == "eval":
            print(f"step {info['step']:>5}: L0 {info['l0']:.1f}, variance explained {info['variance_explained']:.3f}, "
                  f"dead {info['dead']}, dense {info['dense']}", flush=True)
        if kind == "resample":
            print(f"step {info['step']:>5}: resampled {info['revived']}", flush=True)

    started = time.perf_counter()
    result = run_sae(work, request, "new", on_event)
    ended = time.perf_counter()
    s = result.summary
    train_s = ended - marks.get("train_start", started)
    browser, _ = open_browser(work, None, request.eval_tokens)
    summary = browser.summary()
    features = s["features"]
    print(f"\nsettings: {request}")
    print(f"L0 {s['l0']:.1f}, variance explained {s['variance_explained']:.3f}, CE clean {s['ce_clean']:.4f}, "
          f"with the SAE {s['ce_sae']:.4f}, zero-ablated {s['ce_ablated']:.4f}")
    checks = [(f"loss recovered >= 80% (got {100 * s['loss_recovered']:.1f}%)", s["loss_recovered"] >= 0.8),
              (f"L0 <= 40 (got {s['l0']:.1f})", s["l0"] <= 40),
              (f"dead <= 10% (got {s['dead']} of {features}, {100 * s['dead'] / features:.1f}%)", s["dead"] <= 0.1 * features),
              (f"trained in <= 10 minutes (got {train_s / 60:.1f} min; collecting and measuring: "
               f"{(ended - started - train_s) / 60:.1f} min more)", train_s <= 600)]
    for text, ok in checks:
        print(f"  {'met   ' if ok else 'MISSED'}  {text}")
    f, n = summary["feature"], summary["neuron"]
    print(f"specificity (share of the 50 strongest activations on one token), median: SAE features "
          f"{f['median_specificity']} ({f['units'] - f['dead']} active), neurons {n['median_specificity']} "
          f"({n['units'] - n['dead']} active) -> the features are "
          f"{'more' if (f['median_specificity'] or 0) > (n['median_specificity'] or 0) else 'not more'} specific")
    print(f"dense features: {s['dense']}; median density: features {100 * f['median_density']:.2f}%, "
          f"neurons {100 * n['median_density']:.2f}%")
    print(f"CPU: {cpu_name()}, torch threads {torch.get_num_threads()}, load average {os.getloadavg()}")
    print(f"the SAE: {s['sae']}")


if __name__ == "__main__":
    main()
