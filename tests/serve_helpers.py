"""Helpers for the web lab's tests (imported, not a pytest conftest): run folders to serve, the
lab in a thread, and plain HTTP requests over loopback (the standard library's http.client)."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import urlsplit

import torch

from train_helpers import TEXT, TINY, cli_main

# Characters a hostile or Korean sentence needs: in the corpus, so a char run can encode them.
HOSTILE = "<img src=x onerror=alert(1)></script>\"'&\u2028"
KOREAN = "나는 사과를 먹었다"
CORPUS = TEXT + (HOSTILE + " " + KOREAN + "\n") * 5
RUN_TEXT = "First Citizen: hear me"  # 22 characters: inside the 64 positions of tests/serve/conftest.py's run


def train_run(runs: Path, name: str, *extra: str) -> Path:
    """A run folder made by `attnlab train` on CORPUS (TINY's schedule; `extra` flags override)."""
    runs.mkdir(parents=True, exist_ok=True)
    corpus = runs.parent / f"{name}-corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli_main(["train", "--corpus", str(corpus), "--out-dir", str(runs), "--name", name, *TINY,
                         "--no-compile", *extra]) == 0
    finally:
        torch.set_num_threads(threads)
    return runs / name


# The default-sized model (the `cpu` preset: 4 layers of 4 heads, width 128, 64 tokens), one step.
DEFAULT_SIZE = ["--n-layers", "4", "--n-heads", "4", "--d-model", "128", "--block-size", "64", "--max-iters", "1",
                "--eval-interval", "1", "--eval-iters", "1"]


class Client:
    """POST JSON / GET against the lab at `url`; each call a new loopback connection."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def post(self, name: str, body: dict) -> tuple[int, dict]:
        status, _, raw = self.request("POST", f"/api/{name}", json.dumps(body).encode(),
                                      {"Content-Type": "application/json"})
        return status, json.loads(raw)

    def ok(self, name: str, body: dict) -> dict:
        status, answer = self.post(name, body)
        assert status == 200, (name, status, answer)
        return answer
