"""attnlab/__init__.py, the public API: its worked example, and each name imported from its home
module on first use (`import attnlab` alone stays light: test_architecture.py)."""

from __future__ import annotations

import doctest
import subprocess
import sys
import types

import attnlab


def test_the_worked_example_in_the_docstring():
    result = doctest.testmod(attnlab, verbose=False)
    assert result.attempted >= 3 and result.failed == 0


def test_a_module_of_another_name_is_still_set_as_an_attribute(monkeypatch):
    # _Package ignores only a submodule bound over the public name of the same name (attnlab.generate)
    other = types.ModuleType("attnlab.not_public")
    monkeypatch.setattr(attnlab, "not_public", other, raising=False)
    assert attnlab.not_public is other
    assert callable(attnlab.generate) and not isinstance(attnlab.generate, types.ModuleType)


def test_the_lazy_public_api_gives_each_name_from_its_module():
    # In a fresh interpreter: `import attnlab` loads no model, then every name of __all__ resolves
    # to the object its module defines, also after that module (attnlab.generate, same name as
    # the function) has been imported on its own.
    code = (
        "import importlib, sys, attnlab\n"
        "assert 'attnlab.model' not in sys.modules\n"
        "import attnlab.generate, attnlab.model.gpt\n"
        "from attnlab import GPT, generate\n"
        "assert callable(generate) and generate is sys.modules['attnlab.generate'].generate\n"
        "assert attnlab.generate is generate and GPT is attnlab.model.gpt.GPT\n"
        "for name in attnlab.__all__:\n"
        "    assert getattr(attnlab, name) is getattr(importlib.import_module(attnlab._HOMES[name]), name), name\n"
        "assert set(attnlab.__all__) <= set(dir(attnlab))\n"
        "try:\n"
        "    attnlab.no_such_name\n"
        "except AttributeError:\n"
        "    print('OK')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "OK", result.stderr[-3000:]
