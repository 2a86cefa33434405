"""The web lab as an ASGI app (Starlette): one page, its script and style, and the JSON API.

    GET  /                  the page (assets/index.html)
    GET  /static/lab.js     its script, /static/lab.css its style (package data, nothing else),
                            /static/strings.json its labels in English and Korean,
                            /static/heatmap.js the weight maps' painter (viz/assets, shared with save_html),
                            /static/hangul.ttf NanumGothic (from koreanize-matplotlib, when installed)
    GET  /api/models        the models to pick
    POST /api/attention     {"run" | "model", "text"}
    POST /api/explain       {..., "text", "layer", "head", "token"}
    POST /api/lens          {..., "text", "k"}
    POST /api/ablate        {..., "text", "heads": [[l, h], ...], "position", "each"}
    POST /api/next          {..., "text", "temperature", "top_k", "top_p", "n"}
    POST /api/generate      {..., "text", "max_new_tokens", "temperature", "top_k", "top_p", "seed"}
                            streams newline-delimited JSON: {"text": piece} ..., then {"done": true}
    POST /api/why           {..., "text", "from", "to", "vs"}
    POST /api/patch, /api/attribute, /api/features, and one per lab (grokking, superposition, ...): the panels of
                            panels.py, the one registry of the panels; GET /api/panels lists them

Every answer carries a Content-Security-Policy that lets the page load only its own script,
style and API (no inline script, no other origin). A request the client can fix gets a 4xx
with {"error": message, "code": code}: a body over MAX_BODY bytes, JSON that is not an object,
a wrong type, an unknown model, a text over `api.MAX_TEXT` characters or the model's length:
every `attnlab.errors.UserError`, raised where a value is checked (here, in the library or in
`attnlab.sources`), answered with its own `status` and `code`; nothing reads its message to
decide. Any other exception is a bug: a 500 with a generic message, the traceback in the log
(never in the answer). Model work runs in
Starlette's thread pool; `store.Shared.lock` keeps requests apart.

Limits, so that no client can stall the lab: each panel's cap of tokens per model (a 413 with
code "over_token_cap", see limits.py), MAX_IN_FLIGHT requests at once and MAX_PER_MODEL for one
model, MAX_GENERATIONS streams at once (beyond them a 503 with code "busy" at once, see
busy.py), and server.REQUEST_TIMEOUT seconds for a request to arrive (timeouts.py). Every answer is
strict JSON: a non-finite number is null (strict_json.py); it is encoded in the thread pool,
never on the event loop.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from importlib import resources
from typing import Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from attnlab.errors import UserError
from attnlab.serve import api, panels
from attnlab.serve.busy import MAX_IN_FLIGHT, Busy, Gate
from attnlab.serve.loopback import host_name, is_loopback
from attnlab.serve.store import ModelStore, Shared
from attnlab.serve.strict_json import StrictJSONResponse, strict_dumps
from attnlab.viz.png import hangul_font_path

MAX_BODY = 64 * 1024  # bytes in one request body
MAX_GENERATIONS = 4  # streamed generations at once (each holds its model's lock one token at a time)
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-store"}
# name -> (the package whose assets/ holds it, its media type)
ASSETS = {"lab.js": ("attnlab.serve", "text/javascript; charset=utf-8"),
          "lab.css": ("attnlab.serve", "text/css; charset=utf-8"),
          "strings.json": ("attnlab.serve", "application/json; charset=utf-8"),
          "heatmap.js": ("attnlab.viz", "text/javascript; charset=utf-8"),
          **{name: ("attnlab.serve", "text/javascript; charset=utf-8") for name in panels.scripts()}}
PANEL_SCRIPTS = "<!-- the panels' scripts (panels.py) -->"  # in index.html, where they go

log = logging.getLogger(__name__)

Handler = Callable[[Shared, dict], dict]


def asset(name: str, package: str = "attnlab.serve") -> str:
    return (resources.files(package) / "assets" / name).read_text(encoding="utf-8")


def error(message: str, status: int, code: str, headers: dict | None = None) -> JSONResponse:
    return StrictJSONResponse({"error": message, "code": code}, status_code=status, headers={**HEADERS, **(headers or {})})


async def read_json(request: Request) -> dict:
    """The request's JSON object, read at most MAX_BODY bytes far."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise UserError("send the request as JSON (Content-Type: application/json)", status=415,
                        code="not_json")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise UserError(f"the request body is over {MAX_BODY} bytes", status=413, code="body_too_large")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise UserError(f"the request body is over {MAX_BODY} bytes", status=413, code="body_too_large")
    except ClientDisconnect:  # the client went away, or sent too slowly (timeouts.py closed it)
        raise UserError("the request body did not arrive", status=408, code="timeout") from None
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, an integer of over 4300 digits, deep nesting
        raise UserError(f"the body is not valid JSON ({getattr(exc, 'msg', None) or str(exc).split(':')[0]})",
                        code="bad_json") from None
    if not isinstance(data, dict):
        raise UserError("the body must be a JSON object", code="bad_json")
    return data


class LoopbackOnly:
    """Answer only requests addressed to this machine: a Host header of a loopback address
    (127.0.0.1, [::1], ...) or localhost, as `attnlab serve` tells a loopback --host apart. A web
    page that rebinds its own DNS name to 127.0.0.1 still sends that name, and is refused."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = host_name(Headers(scope=scope).get("host", ""))
        if scope["type"] == "http" and not is_loopback(host):
            await error(f"this lab answers only requests addressed to this machine (127.0.0.1, [::1] or localhost), "
                        f"not {host[:80]!r}", 400, "bad_host")(scope, receive, send)
            return
        await self.app(scope, receive, send)


def browser_font(path) -> bytes:
    """The font file without its VTT hinting-source tables (TSI0..TSI5): NanumGothic's TSI3 is
    empty, and browsers' font sanitiser (OTS) refuses the whole font for it. fontTools comes
    with matplotlib, which attnlab depends on."""
    from fontTools.ttLib import TTFont

    font = TTFont(str(path))
    for tag in [t for t in font.keys() if t.startswith("TSI")]:
        del font[tag]
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def page_html() -> str:
    """index.html with a script tag for each panel's script (panels.py)."""
    tags = "\n".join(f'<script src="/static/{name}" defer></script>' for name in panels.scripts())
    return asset("index.html").replace(PANEL_SCRIPTS, tags)


async def page(request: Request) -> Response:
    return Response(page_html(), media_type="text/html; charset=utf-8", headers=HEADERS)


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        raise UserError(f"no file {name[:80]!r}", status=404, code="not_found")
    package, media_type = ASSETS[name]
    return Response(asset(name, package), media_type=media_type, headers=HEADERS)


async def no_icon(request: Request) -> Response:
    return Response(status_code=204, headers=HEADERS)


async def user_error(request: Request, exc: UserError) -> Response:
    """Bad input, wherever it was checked: its first line, its code and its status (a 4xx: bad
    input is never the server's fault, whatever status it was given)."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else "bad input"
    return error(message, exc.status if 400 <= exc.status < 500 else 400, exc.code)


async def http_error(request: Request, exc: HTTPException) -> Response:
    return error(str(exc.detail), exc.status_code, "not_found" if exc.status_code == 404 else "http")


async def busy(request: Request, exc: Busy) -> Response:
    return error(str(exc), 503, "busy", {"Retry-After": "1"})


async def server_error(request: Request, exc: Exception) -> Response:  # a bug: the details go to the log
    log.error("attnlab serve: %s %s failed", request.method, request.url.path, exc_info=exc)
    return error("internal error; the server log has the details", 500, "internal")


async def answer_of(panel: panels.Panel, store: ModelStore, body: dict) -> str:
    """A panel's answer as strict JSON, computed in the thread pool: a model panel's on the model
    the body names (its first use loads it), a lab's on its own, under --runs."""
    if not panel.model:
        return await run_in_threadpool(lambda: strict_dumps(panel.answer(store, body)))
    shared = await run_in_threadpool(store.get, body)
    with shared.gate.enter():
        return await run_in_threadpool(lambda: strict_dumps(panel.answer(shared, body)))


_font: list[bytes] = []  # NanumGothic, read once


async def hangul_font(request: Request) -> Response:
    """NanumGothic from koreanize-matplotlib (the font the PNG views use), so Hangul renders
    on a machine without a Korean font; the style asks for it only for Hangul characters."""
    if not _font:
        path = hangul_font_path()
        if path is None:
            raise UserError("no Hangul font installed (pip install koreanize-matplotlib)", status=404,
                            code="not_found")
        _font.append(browser_font(path))
    return Response(_font[0], media_type="font/ttf", headers={**HEADERS, "Cache-Control": "max-age=86400"})


async def panel_listing(request: Request) -> Response:
    return StrictJSONResponse({"panels": panels.listing()}, headers=HEADERS)


def make_app(store: ModelStore, loopback: bool = True) -> Starlette:
    """The app over `store`; `loopback`: answer only requests addressed to this machine
    (`LoopbackOnly`), which stops a web page from reaching the lab through a DNS name it rebinds
    to 127.0.0.1."""

    in_flight = Gate(MAX_IN_FLIGHT, "requests")
    generations = Gate(MAX_GENERATIONS, "generations")

    def json_endpoint(panel: panels.Panel) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            with in_flight.enter():  # Busy (a 503) when full
                body = await read_json(request)
                answer = await answer_of(panel, store, body)
            return Response(answer, media_type="application/json", headers=HEADERS)
        return endpoint

    async def models(request: Request) -> Response:
        with in_flight.enter():
            listing = await run_in_threadpool(store.listing)
        return StrictJSONResponse({"models": listing, "max_text": api.MAX_TEXT}, headers=HEADERS)

    async def generate(request: Request) -> Response:
        with in_flight.enter():
            body = await read_json(request)
            shared = await run_in_threadpool(store.get, body)
            run = await run_in_threadpool(panels.generation, shared, body)
        generations.acquire()  # Busy when full; let go when the stream's response ends, however it ends
        return CountedStream(_stream(run), generations.release, media_type="application/x-ndjson", headers=HEADERS)

    routes = [Route("/", page), Route("/static/hangul.ttf", hangul_font), Route("/static/{name}", static),
              Route("/favicon.ico", no_icon), Route("/api/models", models), Route("/api/panels", panel_listing),
              Route("/api/generate", generate, methods=["POST"])]
    for panel in panels.PANELS:
        routes.append(Route(f"/api/{panel.name}", json_endpoint(panel), methods=["POST"]))
    middleware = [Middleware(LoopbackOnly)] if loopback else []
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={UserError: user_error, HTTPException: http_error, Busy: busy,
                                         Exception: server_error})


class CountedStream(StreamingResponse):
    """A streamed answer that calls `done()` once it is over: sent, failed or cut off."""

    def __init__(self, content, done: Callable[[], None], **kwargs) -> None:
        super().__init__(content, **kwargs)
        self.done = done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.done()


def _stream(run: Callable[[Callable[[str], None], threading.Event], str]):
    """Run a generation in its own thread and yield its pieces as JSON lines while it goes. When
    the client goes away, Starlette stops reading these lines (it cancels them on the disconnect
    or closes them after a failed send): `stop` is set and the generation ends at its next token."""
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()
    DONE, FAILED = object(), object()

    def work() -> None:
        try:
            run(lambda piece: loop.call_soon_threadsafe(pieces.put_nowait, piece), stop)
            end = DONE
        except Exception:  # noqa: BLE001 - a bug: logged, and the stream's last line says it failed
            log.exception("attnlab serve: generation failed")
            end = FAILED
        if not stop.is_set():  # nobody reads any more once stop is set, and the loop may be closed
            loop.call_soon_threadsafe(pieces.put_nowait, end)

    async def lines():
        threading.Thread(target=work, name="attnlab serve generation", daemon=True).start()
        try:
            while (item := await pieces.get()) is not DONE:
                if item is FAILED:
                    yield json.dumps({"error": "the generation failed; the server log has the details",
                                      "code": "generation_failed"}) + "\n"
                    return
                yield json.dumps({"text": item}, ensure_ascii=False) + "\n"
            yield json.dumps({"done": True}) + "\n"
        finally:
            stop.set()

    return lines()
