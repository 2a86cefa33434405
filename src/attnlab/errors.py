"""The one error type for bad input.

`UserError` is raised where a value the user gave (a flag, a file, a request field) is checked
and found wrong: its message is one line that says what was wrong and how to fix it. The CLI
prints it as `attnlab: error: ...` with exit code 2, the web lab answers it with a 4xx status;
any other exception is a bug and keeps its traceback. `code` names the kind of mistake for a
program (the web lab's page translates the codes it knows), so nothing matches on the message.

    >>> issubclass(UserError, ValueError)   # code that catches ValueError still catches it
    True
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input: a one-line message the user can act on. `status` is the web lab's HTTP code
    (a 4xx), `code` a stable name of the mistake (e.g. "too_many_tokens")."""

    status = 400
    code = "bad_input"

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
