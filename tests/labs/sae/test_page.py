"""attnlab.labs.sae.page: the feature browser as one self-contained page: its data read back
exactly, hostile tokens kept as text, no network, an atomic write."""

from __future__ import annotations

import json

from attnlab.labs.sae.page import render_page, save_page
from attnlab.viz.html import CSP

HOSTILE = "</script><b>x</b>&\u2028"


def data() -> dict:
    detail = {"density": 0.5, "specificity": 1.0, "histogram": {"max": 2.0, "counts": [1, 0]},
              "contexts": [{"tokens": [HOSTILE, "a"], "acts": [2.0, 0.0], "at": 0, "value": 2.0, "index": 3}],
              "promotes": [{"token": HOSTILE, "weight": 1.0}], "suppresses": []}
    return {"title": f"run <{HOSTILE}>", "kinds": {"feature": {"listing": [{"unit": 0, "density": 0.5,
                                                                             "promotes": [HOSTILE]}],
                                                                "details": {"0": detail}}}}


def test_the_data_reads_back_exactly_and_nothing_hostile_escapes_its_block():
    page = render_page(data())
    block = page.split('<script type="application/json" id="attnlab-data">')[1].split("</script>")[0]
    assert json.loads(block) == data()  # the whole block, up to the first </script>: the token did not end it
    assert page.count("</script>") == 2 and "<b>x</b>" not in page
    assert "<title>run &lt;&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;&amp;\u2028&gt;</title>" in page


def test_the_page_is_offline_and_forbids_requests():
    page = render_page(data())
    assert f'content="{CSP}"' in page and "default-src 'none'" in CSP
    assert "http://" not in page and "https://" not in page and "<script src" not in page
    assert "innerHTML" not in page  # tokens are placed with textContent


def test_save_page_writes_the_page_and_no_temporary_file(tmp_path):
    path = save_page(tmp_path / "f.html", data())
    assert path.read_text(encoding="utf-8") == render_page(data())
    assert [p.name for p in tmp_path.iterdir()] == ["f.html"]
