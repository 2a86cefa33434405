"""A token of a text found by what it reads, as a person types it: `--from it` is the first token
that reads "it" (the commands' --from, --to and --vs). Nothing here imports torch.

    >>> find_token(["The", "␣animal", "␣It"], "it", "--from")
    2
"""

from __future__ import annotations

from attnlab.errors import UserError


def norm_token(token: str) -> str:
    """A token label compared the way a person types it: no WordPiece/BPE markers, no visible
    space ('␣', how attnlab labels a space), no case: '␣It' reads 'it'."""
    return token.removeprefix("##").replace("Ġ", "").replace("▁", "").replace("␣", "").strip().lower()


def find_token(tokens: list[str], word: str, flag: str) -> int:
    """The position of the first token that reads `word`; an error lists the tokens there are."""
    wanted = norm_token(word)
    for i, t in enumerate(tokens):
        if norm_token(t) == wanted and wanted:
            return i
    shown = " ".join(repr(t) for t in tokens[:60]) + (" ..." if len(tokens) > 60 else "")
    raise UserError(f"{flag} {word!r} is not a token of the text; its tokens are: {shown}", code="bad_value")
