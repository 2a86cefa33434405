"""The `--help` formatter every subcommand uses: each flag's default shown once.

argparse's ArgumentDefaultsHelpFormatter appends "(default: X)" to every help string, which
prints "feed-forward width (default 4 * d_model) (default: None)" for a flag whose help already
explains its default. This one leaves such a help string alone, and says nothing for a default
of None or False (a flag that is simply unset), so every default is stated once, in words.
"""

from __future__ import annotations

import argparse
import re

SAYS_DEFAULT = re.compile(r"\bdefault\b", re.IGNORECASE)  # "default: 2", not "PyTorch's defaults"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if SAYS_DEFAULT.search(text) or action.default is None or action.default is False:
            return text
        return super()._get_help_string(action)
