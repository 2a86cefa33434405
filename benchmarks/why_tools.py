"""Wall time of `attnlab ablate --split val` (every head of a run) and `attnlab why --model minilm`.

Each command is timed twice: as a user runs it (a fresh `python -m attnlab` process, interpreter
start and imports included) and in this process with its parts apart (loading, the work).
Targets: ablate over all 16 heads of the default run < 30 s; why on MiniLM < 5 s.

    python benchmarks/why_tools.py --run runs/cpu-shakespeare-char [--batches 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import torch

ANIMAL = "The animal didn't cross the street because it was too tired."


def command_seconds(args: list[str], repeats: int) -> str:
    """'wall W s, CPU C s': the fastest of `repeats` fresh `python ARGS` processes; CPU is the
    child's user + system time (on a shared machine the wall time also counts waiting for a core)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([p for p in sys.path if p]))
    best = None
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL, env=env)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        best = (wall, cpu) if best is None or wall < best[0] else best
    return f"wall {best[0]:.2f} s, CPU {best[1]:.2f} s (fastest of {repeats})"


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def ablate_parts(run_dir: str, batches: int) -> None:
    """The command's parts, timed apart, on one thread (the command's default)."""
    from attnlab.runs.checkpoint import load_model
    from attnlab.why.ablate import ablate_heads, split_batches

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    (model, tokenizer), t_load = timed(lambda: load_model(run_dir))
    (x, y), t_data = timed(lambda: split_batches(run_dir, tokenizer, "val", batches))
    result, t_work = timed(lambda: ablate_heads(model, x, y))
    print(f"  in process: load {t_load:.2f} s, encode + draw the val batches {t_data:.2f} s, "
          f"{len(result['heads'])} heads x (zero, mean) + baseline = {2 * len(result['heads']) + 1} forwards "
          f"on {tuple(x.shape)} tokens {t_work:.2f} s")
    torch.set_num_threads(threads)


def why_parts() -> None:
    """Loading MiniLM and the answers, timed apart, on one thread (the command's default)."""
    from attnlab.interop.minilm import load_minilm
    from attnlab.why.answers import why

    torch.set_num_threads(1)
    (model, tokenizer), t_load = timed(load_minilm)
    ids = tokenizer.encode(ANIMAL)
    tokens = tokenizer.token_strings(ids)
    _, t_work = timed(lambda: why(model, torch.tensor([ids]), tokens.index("it"), tokens.index("animal"),
                                  tokens.index("street"), tokens))
    print(f"  in process: load MiniLM {t_load:.2f} s, the four answers on {len(ids)} tokens {t_work:.2f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--run", required=True, help="a GPT run folder (the default run: runs/cpu-shakespeare-char)")
    p.add_argument("--batches", type=int, default=10, help="val batches for ablate (the command's default)")
    p.add_argument("--repeats", type=int, default=3, help="fresh processes per command; the fastest is shown")
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"python -c 'import torch': {command_seconds(['-c', 'import torch'], args.repeats)}")
    ablate = ["ablate", "--run", args.run, "--split", "val", "--batches", str(args.batches)]
    for extra in ([], ["--threads", "0"]):  # the default (one thread), then torch's own choice
        figures = command_seconds(["-m", "attnlab", *ablate, *extra], args.repeats)
        print(f"attnlab {' '.join(ablate + extra)}: {figures}")
    ablate_parts(args.run, args.batches)
    why = ["why", ANIMAL, "--model", "minilm", "--from", "it", "--to", "animal", "--vs", "street"]
    for extra in ([], ["--threads", "0"]):
        print(f"attnlab why '{ANIMAL[:20]}...' --model minilm ... {' '.join(extra)}: "
              f"{command_seconds(['-m', 'attnlab', *why, *extra], args.repeats)}")
    why_parts()
    return 0


if __name__ == "__main__":
    sys.exit(main())
