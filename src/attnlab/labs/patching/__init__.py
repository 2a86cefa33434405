"""Activation and path patching (`attnlab patch`, the web lab's Patch panel) in the one lab shape:
settings.py (PatchSettings, torch-free), run.py (run -> PatchResult, report), tokens.py (the answer
tokens and the terminal table, shared with `attnlab attribute`). The numbers are attnlab.why's."""
