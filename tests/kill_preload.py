"""Imported by test_kill's fork server: every subcommand module, once, so each child starts at once."""

import attnlab.cli
import attnlab.train.gpt  # noqa: F401

attnlab.cli.build_parser()
