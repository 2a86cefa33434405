"""The ladder's settings, free of torch so that `attnlab ladder --help` can show them without
loading it. The rungs themselves, and the lecture's settings they share, are in rungs.py; the
device, precision and threads are the runtime's (`attnlab.runtime`), not the ladder's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from attnlab.config import check_types, setting
from attnlab.labs.shape import Lab


@dataclass
class LadderSettings:
    """One ladder: its corpus, its length and where it goes. Each field is a flag of `attnlab
    ladder` and a key of the web lab's Ladder panel (which picks out_dir itself and takes only
    the built-in corpora)."""

    corpus: str = setting("shakespeare", "built-in corpus (see `attnlab corpora`), a text file or a folder of "
                                         ".txt files")
    steps: int = setting(5000, "training steps per rung (the lecture's)")
    out_dir: str | None = setting(None, "the ladder folder (none: runs/ladder-CORPUS)")
    scaled: bool = setting(False, "add the lecture's last rung: 6 layers, 6 heads, 384 wide, block 256 "
                                  "(needs a GPU)")
    eval_iters: int = setting(200, "batches per validation estimate")
    seed: int = setting(1337, "random seed of every rung")

    def __post_init__(self) -> None:
        check_types(self)  # the values themselves are checked as every rung's TrainConfig is built

    @property
    def folder(self) -> Path:
        """out_dir, or runs/ladder-CORPUS: `ladder-shakespeare` for the built-in, the file's stem for a file."""
        name = {"-": "stdin"}.get(self.corpus, Path(self.corpus).stem or "corpus")
        return Path(self.out_dir or f"runs/ladder-{name}")


# The lab: `attnlab ladder` and the web lab's Ladder panel run it.
LAB = Lab("ladder", LadderSettings, runner="attnlab.labs.ladder.lab:run", reporter="attnlab.labs.ladder.lab:report")
