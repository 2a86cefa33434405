"""The progress bar and log lines of a training run, shared by `attnlab train` and `attnlab seq2seq`."""

from __future__ import annotations


class Progress:
    """Turns the training loop's events into a tqdm bar (step, loss, tokens/s, ETA) and log lines;
    `attnlab train` and `attnlab seq2seq` both use it."""

    def __init__(self, say, enabled: bool):
        self.say, self.enabled, self.bar = say, enabled, None
        self.tokens_per_s = None  # smoothed: single steps are noisy

    def __call__(self, kind: str, info: dict) -> None:
        if kind == "start":
            line = f"model: {info['parameters']:,} parameters on {info['device']} ({info['dtype']})"
            if "tokens_per_step" in info:  # a GPT
                line += (f", {info['tokens_per_step']:,} tokens per step, MFU against "
                         f"{info['peak_flops'] / 1e12:.2f} TFLOP/s ({info['peak_source']})")
            self.say(line)
            if self.enabled:
                from tqdm import tqdm

                self.bar = tqdm(total=info["max_iters"], initial=info["step"], unit="step", dynamic_ncols=True)
        elif kind == "step":
            if self.bar is not None:
                self.bar.update(info["step"] - self.bar.n)
                self.bar.set_postfix_str(f"loss {info['loss']:.4f}{self._speed(info)}", refresh=False)
        elif kind == "eval":
            self.write(f"step {info['step']}: train loss {info['train']:.4f}, val loss {info['val']:.4f}")

    def _speed(self, info: dict) -> str:
        if "tokens_per_s" not in info:
            return ""
        rate = info["tokens_per_s"]
        self.tokens_per_s = rate if self.tokens_per_s is None else 0.9 * self.tokens_per_s + 0.1 * rate
        mfu = f"{100 * info['mfu'] * self.tokens_per_s / rate:.1f}%" if info["mfu"] is not None else "n/a"
        return f", {self.tokens_per_s:,.0f} tok/s, MFU {mfu}"

    def write(self, line: str) -> None:
        """A log line above the bar."""
        self.bar.write(line) if self.bar is not None else self.say(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
