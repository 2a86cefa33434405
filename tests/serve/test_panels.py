"""The web lab's one registry of panels (serve/panels.py): every lab and tool registered there is a
command, a route, a script the page loads, and a form of its settings."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("starlette")

import attnlab.labs.shape  # noqa: E402
from attnlab.serve import panels  # noqa: E402


def registered() -> list:
    return [*panels.TOOLS, *panels.LABS]


@pytest.mark.parametrize("lab, limits", registered(), ids=[lab.name for lab, _ in registered()])
def test_every_registered_lab_is_a_command_and_a_panel_with_help_for_every_setting(lab, limits):
    from attnlab.cli import COMMANDS

    assert lab.name in COMMANDS
    assert all(text for text in attnlab.labs.shape.help_of(lab.settings).values())
    panel = next(p for p in panels.PANELS if p.name == lab.name)
    assert panel.lab is lab and panel.model == limits.on_run
    listed = {f["name"] for f in panels.settings_listing(lab, limits)}
    assert listed == {f.name for f in dataclasses.fields(lab.settings)} - set(limits.fixed(panels.Path(".")))
    assert panel.script is None or panel.script in panels.scripts()  # None: the page's own lab.js draws it


def test_panel_names_are_unique_and_every_script_is_served():
    from attnlab.serve.app import ASSETS, page_html

    names = [p.name for p in panels.PANELS]
    assert len(names) == len(set(names))
    for script in panels.scripts():
        assert script in ASSETS and f'<script src="/static/{script}" defer></script>' in page_html()
