"""The web lab in a real browser: Debian's headless chromium (Playwright) against a server this
module starts on loopback. Hover reads the API's weight, a click ablates with the CLI's loss, the
temperature moves the distribution, Korean leaves no English in the panels, a superseded
request shows no error and leaves no panel busy, and a hostile sentence runs no script.

The README's screenshot comes from here:
    ATTNLAB_SERVE_RUNS=runs ATTNLAB_SERVE_SCREENSHOT=docs/serve.png python -m pytest tests/serve/test_serve_browser.py
(ATTNLAB_SERVE_RUNS: serve that folder's runs instead of a tiny one trained here; the page opens
ATTNLAB_SERVE_RUN, by default cpu-shakespeare-char when there is one, else the first run.)
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from browser_helpers import CHROMIUM, browser  # noqa: E402,F401 (a fixture)
from serve_helpers import HOSTILE, Client, train_run  # noqa: E402
from train_helpers import cli_main, one_thread  # noqa: E402,F401 (an autouse fixture)

pytest.importorskip("starlette", reason="attnlab serve needs starlette: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="attnlab serve needs uvicorn: pip install -e '.[serve]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed: pip install playwright")
if not os.path.exists(CHROMIUM):
    pytest.skip("chromium not installed: apt-get install -y chromium", allow_module_level=True)

from attnlab.serve.server import Background  # noqa: E402
from attnlab.serve.store import ModelStore  # noqa: E402
from attnlab.viz.html import decode_weights  # noqa: E402

pytestmark = pytest.mark.slow
SENTENCE = "First Citizen: hear me speak."
HANGUL_FONT = importlib.util.find_spec("koreanize_matplotlib") is not None
# Words that stay as they are in the Korean interface: names of math objects and of the filters.
KEEP = {"GPT", "top", "W_Q", "W_K", "W_V", "W_O"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(the lab's url, its store, the run's name): ATTNLAB_SERVE_RUNS, or a tiny run trained here."""
    if os.environ.get("ATTNLAB_SERVE_RUNS"):
        store = ModelStore(os.environ["ATTNLAB_SERVE_RUNS"], minilm=False)
    else:
        runs = tmp_path_factory.mktemp("lab") / "runs"
        train_run(runs, "tiny", "--n-layers", "2", "--n-heads", "4", "--block-size", "64", "--max-iters", "30")
        store = ModelStore(runs, minilm=False)
    folders = store.run_folders()
    name = os.environ.get("ATTNLAB_SERVE_RUN") or ("cpu-shakespeare-char" if "cpu-shakespeare-char" in folders
                                                    else next(iter(folders)))
    with Background(store) as lab:
        yield f"{lab.url}?run={name}", store, name


class Lab:
    """A page of the lab that records console errors, page errors and dialogs."""

    def __init__(self, browser, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors, self.dialogs = [], []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        paint = self.page.evaluate("performance.getEntriesByName('first-contentful-paint').map(e => e.startTime)")
        print(f"first contentful paint {paint[0]:.0f} ms" if paint else "no paint entry")

    def look(self, text: str) -> None:
        """Type `text` and press the button; wait until every panel has its answer."""
        self.page.evaluate("delete document.body.dataset.ready")
        self.page.fill("#text", text)
        self.page.click("#go")
        self.page.wait_for_selector("body[data-ready='1']", timeout=30_000)

    def wait_panel(self, section: str) -> None:
        self.page.wait_for_selector(f"#{section}[data-state='ready']", timeout=30_000)

    def real_errors(self) -> list[str]:
        return [e for e in self.errors if HANGUL_FONT or "404" not in e]  # no font package: its request 404s


def test_hover_shows_the_api_weight_and_a_click_ablates_with_the_clis_loss(browser, served, tmp_path, capsys):
    url, store, name = served
    lab = Lab(browser, url)
    lab.look(SENTENCE)
    page = lab.page
    page.click("#grid .thumb[data-layer='1'][data-head='1']")
    box = page.locator("#attn-map").bounding_box()
    cell, left, top = (float(page.get_attribute("#attn-map", f"data-{k}")) for k in ("cell", "left", "top"))
    i, j = 9, 4
    page.mouse.move(box["x"] + left + (j + 0.5) * cell, box["y"] + top + (i + 0.5) * cell)
    shown = page.text_content("#attn-readout .weight")
    api = Client(url).ok("attention", {"run": name, "text": SENTENCE})
    assert float(shown) == pytest.approx(float(decode_weights(api)[1, 1, i, j]), abs=1e-7)  # q / 65535
    assert page.text_content("#attn-readout .tokq") == api["labels"][i]
    assert page.text_content("#attn-readout .tokk") == api["labels"][j]

    with page.expect_response("**/api/ablate"):
        page.click("#ablate-grid [data-head='0.1']")
    lab.wait_panel("p-ablate")
    capsys.readouterr()  # what training the run printed
    assert cli_main(["ablate", "--run", str(store.run_folders()[name]), "--text", SENTENCE, "--heads", "0.1",
                     "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert float(page.get_attribute("#loss-ablated", "data-loss")) == cli["set"]["loss"]
    assert page.text_content("#loss-ablated") == f"{cli['set']['loss']:.4f}"
    assert page.text_content("#loss-base") == f"{cli['baseline_loss']:.4f}"
    assert page.locator("#ablate-grid [data-head='0.1'].off").count() == 1

    page.set_viewport_size({"width": 1400, "height": 2000})
    page.evaluate("document.fonts.ready.then(() => true)")  # the Hangul of the language switch
    page.screenshot(path=str(tmp_path / "serve.png"), full_page=True)
    if os.environ.get("ATTNLAB_SERVE_SCREENSHOT"):
        shutil.copy(tmp_path / "serve.png", os.environ["ATTNLAB_SERVE_SCREENSHOT"])
    assert lab.real_errors() == [] and lab.dialogs == []


def bars(page) -> list[tuple[str, float, bool]]:
    return [(b.get_attribute("data-token"), float(b.get_attribute("data-p")), "cut" in b.get_attribute("class"))
            for b in page.locator("#dist .bar").all()]


def test_temperature_and_top_k_move_the_distribution(browser, served):
    url, _, name = served
    lab = Lab(browser, url)
    lab.look(SENTENCE)
    page = lab.page
    before = bars(page)
    page.locator("#temperature").fill("0.3")
    page.wait_for_selector("#dist[data-temperature='0.3']", timeout=30_000)
    lab.wait_panel("p-sample")
    after = bars(page)
    assert after != before and after[0][1] > before[0][1]  # colder: the top token gains
    api = Client(url).ok("next", {"run": name, "text": SENTENCE, "temperature": 0.3, "top_k": None, "top_p": 1.0,
                                  "n": 24})
    assert [(b["token"], b["p"]) for b in api["bars"]] == [(t, p) for t, p, _ in after]
    assert not any(cut for _, _, cut in after)
    page.locator("#top-k").fill("3")
    page.wait_for_selector("#dist .bar.cut", timeout=30_000)
    lab.wait_panel("p-sample")
    cut = [c for _, _, c in bars(page)]
    assert cut[:3] == [False] * 3 and all(cut[3:])
    assert lab.real_errors() == []


VISIBLE_TEXT = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.getElementById("lab"), NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const e = n.parentElement;
    if (!n.textContent.trim() || e.closest(".data") || e.closest("option") || !e.checkVisibility()) continue;
    out.push(n.textContent.trim());
  }
  return out;
}"""


def test_korean_leaves_no_english_in_the_panels(browser, served):
    url, _, _ = served
    lab = Lab(browser, url)
    lab.look(SENTENCE)
    page = lab.page
    page.hover("#lens td >> nth=5")  # readouts filled too
    page.mouse.move(*_map_point(page, 2, 1))
    english = page.evaluate(VISIBLE_TEXT)
    page.click("#lang")
    korean = page.evaluate(VISIBLE_TEXT)
    assert page.get_attribute("html", "lang") == "ko"
    words = {w for text in korean for w in re.findall(r"[A-Za-z_]{2,}", text)}
    assert words <= KEEP, words - KEEP
    assert len(korean) >= 40 and sum(bool(re.search("[가-힣]", text)) for text in korean) >= 30
    if HANGUL_FONT:  # NanumGothic came from the lab itself: Hangul has a font even on a bare machine
        assert page.evaluate("document.fonts.check('12px \"attnlab-hangul\"', '한')")
    page.click("#lang")
    assert page.evaluate(VISIBLE_TEXT) == english  # and back
    assert lab.real_errors() == []


def _map_point(page, i: int, j: int) -> tuple[float, float]:
    box = page.locator("#attn-map").bounding_box()
    cell, left, top = (float(page.get_attribute("#attn-map", f"data-{k}")) for k in ("cell", "left", "top"))
    return box["x"] + left + (j + 0.5) * cell, box["y"] + top + (i + 0.5) * cell


def test_a_hostile_sentence_runs_no_script(browser, served):
    url, _, name = served
    status, answer = Client(url).post("attention", {"run": name, "text": HOSTILE})
    if status != 200:  # ATTNLAB_SERVE_RUNS: a run whose corpus lacks these characters
        pytest.skip(f"run {name} cannot encode the hostile sentence: {answer['error']}")
    lab = Lab(browser, url)
    lab.look(HOSTILE)
    page = lab.page
    api = Client(url).ok("attention", {"run": name, "text": HOSTILE})
    assert page.locator("#tokens .tok").all_text_contents() == api["labels"]
    page.mouse.move(*_map_point(page, 3, 1))
    page.hover("#lens td >> nth=2")
    page.click("#generate")
    page.wait_for_selector("#gen-out[data-state='ready']", timeout=30_000)
    assert page.text_content("#gen-out").startswith(HOSTILE)
    page.wait_for_timeout(300)
    assert lab.dialogs == []
    assert page.evaluate("document.querySelectorAll('#lab img, #lab script').length") == 0
    assert lab.real_errors() == []


class Held:
    """Holds the first request to one API path; later ones go through. The test answers the
    held one itself, after the newer request has been shown."""

    def __init__(self, page, path: str) -> None:
        self.page, self.path, self.routes = page, path, []
        page.route(f"**/api/{path}", self.handle)

    def handle(self, route) -> None:
        if self.routes:
            route.continue_()
        else:
            self.routes.append(route)

    def wait(self) -> None:
        while not self.routes:
            self.page.wait_for_timeout(20)

    def answer(self, **reply) -> None:
        """Answer the held request (fulfil it with `reply`, or let the server answer it) and wait
        until the page has read the answer."""
        with self.page.expect_response(f"**/api/{self.path}"):
            if reply:
                self.routes[0].fulfill(**reply)
            else:
                self.routes[0].continue_()
        self.page.wait_for_timeout(200)


def test_a_superseded_request_shows_no_error_and_leaves_no_panel_busy(browser, served):
    url, _, _ = served
    lab = Lab(browser, url)
    lab.look(SENTENCE)
    page = lab.page

    # sampling: a slow request, then a newer one that is shown; the slow one then fails
    held = Held(page, "next")
    page.locator("#temperature").fill("0.3")
    held.wait()
    page.locator("#temperature").fill("0.5")
    page.wait_for_selector("#dist[data-temperature='0.5']", timeout=30_000)
    lab.wait_panel("p-sample")
    shown = bars(page)
    held.answer(status=400, content_type="application/json",
                body=json.dumps({"error": "the text is too long", "code": "text_too_long"}))
    assert page.locator("#dist .error").count() == 0
    assert page.get_attribute("#p-sample", "data-state") == "ready"
    assert bars(page) == shown and page.get_attribute("#dist", "data-temperature") == "0.5"

    # step by step: a slow request for a token, then a new text that fails before any panel asks
    # again; the slow answer comes back for a text no longer shown
    caption = page.text_content("#explain-steps .caption")
    held = Held(page, "explain")
    page.click("#tokens .tok >> nth=2")
    held.wait()
    page.fill("#text", "")
    page.click("#go")
    page.wait_for_selector("#status .error", timeout=30_000)
    held.answer()
    assert page.get_attribute("#p-explain", "data-state") == "ready"
    assert page.text_content("#explain-steps .caption") == caption  # the stale answer is not drawn
    assert all("status of 400" in e for e in lab.real_errors())  # the two 4xx answers, logged; nothing else


def test_a_lab_panel_is_a_form_of_its_settings_and_shows_the_labs_answer(browser, served):
    """labs.js draws each registered lab as a form of its settings (panels.py); Run posts them and
    shows the answer, the lab's --json object."""
    url, _, _ = served
    lab = Lab(browser, url)
    page = lab.page
    page.wait_for_selector("#p-superposition form", timeout=30_000)
    for name, value in (("steps", "30"), ("instances", "2"), ("probabilities", "1 0.1")):
        page.locator(f"#p-superposition label[title] >> text={name}").locator("xpath=..").locator("input").fill(value)
    page.locator("#p-superposition button[type=submit]").click()
    page.wait_for_selector("#p-superposition pre:has-text('sweep')", timeout=60_000)  # (the page's CSP: no eval)
    shown = json.loads(page.locator("#p-superposition pre").text_content())
    api = Client(url.split("?")[0]).ok("superposition", {"steps": 30, "instances": 2, "probabilities": [1, 0.1]})
    assert shown == api and [p["probability"] for p in shown["sweep"]] == [1.0, 0.1]
    assert lab.real_errors() == []
