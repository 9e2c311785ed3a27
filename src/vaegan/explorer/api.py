"""The explorer's web API on FastAPI: typed request models, one guard for Host/Origin/body size, JSON errors.

Every body is validated by a pydantic model before any model runs, so bad input is a 4xx with a message
(422 for a wrong type or range, 400 for something the run does not have, 413 for a body too large) and
never a 5xx; a bug is a 500 whose traceback goes to the terminal only. The page is static files served
as they are. See vaegan.explorer for the routes.
"""

from __future__ import annotations

import ipaddress
import logging
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vaegan import latent
from vaegan.explorer.core import MAX_STEPS, ApiError, Explorer, map_payload, page_info
from vaegan.explorer.uploads import UploadGate, read_body

logger = logging.getLogger(__name__)

MAX_JSON_BODY = 256 * 1024  # bytes: a latent of a few hundred floats is a few kB
MAX_UPLOAD = 16 * 1024 * 1024  # bytes: a large phone photo; the pixel limit then guards decompression
UPLOAD_PATH = "/api/encode-image"
# A refused body is read and dropped up to this many bytes before the response ends: a server that answers
# and closes while the client still sends resets the connection, and the client sees the reset, not the 413.
# Past this (or the server's READ_TIMEOUT) the connection is closed: nothing is held, only read.
DRAIN = 64 * 1024 * 1024
Z_LIMIT = 50.0  # |z_d| past this is hundreds of prior standard deviations: the decoder only saturates
LOOPBACK_NAMES = ("localhost",)

# strict: a JSON true is not the number 1, and "1" is not a number; 1e308 and 4,000-digit integers fail too
Coordinate = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-Z_LIMIT, le=Z_LIMIT)]
Latent = Annotated[list[Coordinate], Field(min_length=1, max_length=4096)]
Index = Annotated[int, Field(strict=True, ge=0, le=2**31)]
Stage = Literal["vae", "gan"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DecodeBody(Body):
    z: Latent
    stage: Stage | None = None


class EncodeBody(Body):
    index: Index


class RandomBody(Body):
    seed: Annotated[int, Field(strict=True, ge=0, le=2**63 - 1)] = 0
    temperature: Annotated[float, Field(strict=True, ge=0.0, le=5.0, allow_inf_nan=False)] = 1.0
    stage: Stage | None = None


class InterpolateBody(Body):
    a: Index | Latent
    b: Index | Latent
    steps: Annotated[int, Field(strict=True, ge=2, le=MAX_STEPS)] = 8
    method: Literal["lerp", "slerp"] = "slerp"
    stage: Stage | None = None


class TraverseBody(Body):
    z: Latent
    dim: Index
    span: Annotated[float, Field(strict=True, gt=0.0, le=10.0, allow_inf_nan=False)] = 3.0
    steps: Annotated[int, Field(strict=True, ge=2, le=MAX_STEPS)] = 9
    stage: Stage | None = None


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a hostname other than localhost: it may resolve anywhere
        return False


def host_name(value: str) -> str:
    """The name part of a Host header: "127.0.0.1:8765" -> "127.0.0.1", "[::1]:80" -> "[::1]"."""
    if value.startswith("["):
        return value.split("]")[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers={"Cache-Control": "no-store"})


class Guard:
    """ASGI middleware run before any route: the checks a browser-facing server with no login needs.

    - Host allow-list: behind a loopback bind, a page elsewhere can point its own domain at 127.0.0.1 (DNS
      rebinding) and read the explorer; answering only Host names that are loopback stops that.
    - Cross-origin POSTs refused: a page on another origin can still send "simple" POSTs without asking;
      browsers name the sender in Origin (and Sec-Fetch-Site), so anything not from this origin is a 403.
    - Body size capped, by Content-Length up front and by counting as the body streams in (chunked); the rest of
      a refused body is read and dropped (up to DRAIN) before the response ends, so the client gets the answer,
      not a reset.
    """

    def __init__(self, app: ASGIApp, allow_remote: bool) -> None:
        self.app = app
        self.allow_remote = allow_remote

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        refusal = None
        if not self.allow_remote and not is_loopback(host_name(host)):
            refusal = error(403, "unexpected Host header; open the explorer at 127.0.0.1")
        elif scope["method"] not in ("GET", "HEAD") and not same_origin(headers, host):
            refusal = error(403, "cross-origin request refused; use the explorer's own page")
        limit = MAX_UPLOAD if scope["path"] == UPLOAD_PATH else MAX_JSON_BODY
        length = headers.get("content-length", "0")
        if refusal is None and (not length.isdigit() or int(length) > limit):
            refusal = error(413, f"the request body is over {limit // 1024} kB; send a smaller one")
        if refusal is not None:
            drained = length.isdigit() and int(length) <= DRAIN
            await refusal(scope, receive, answer_then_drain(send, receive) if drained else send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                await drain(receive, message)
                raise HTTPException(413, f"the request body is over {limit // 1024} kB; send a smaller one")
            return message

        await self.app(scope, counted, send)


def answer_then_drain(send: Send, receive: Receive) -> Send:
    """`send` for a refusal: the whole answer goes out at once (a client reading as it sends sees it), then the
    body still coming is drained before the response ends, so the connection is not reset under the client."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            await send({**message, "more_body": True})  # all of the answer's Content-Length
            await drain(receive)
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    return sending


async def drain(receive: Receive, last: Message | None = None) -> None:
    """Read the rest of a request body (after `last`, the message read so far) and drop it, up to DRAIN bytes."""
    drained = 0
    while drained <= DRAIN and (last is None or (last["type"] == "http.request" and last.get("more_body"))):
        last = await receive()
        drained += len(last.get("body", b""))


def same_origin(headers: dict[str, str], host: str) -> bool:
    """True unless the browser says the request comes from another site (tools like curl send neither)."""
    if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    return origin is None or origin in (f"http://{host}", f"https://{host}")


def first_problem(exc: RequestValidationError) -> str:
    """One line from pydantic's list: where in the body, and what was wrong."""
    problems = exc.errors()
    if not problems:
        return "the request body is not valid"
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "the body"
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"


def busy() -> JSONResponse:
    response = error(503, "the explorer is busy with other uploads; try again in a moment")
    response.headers["Retry-After"] = "1"
    return response


def png(payload: bytes) -> Response:
    return Response(payload, media_type="image/png", headers={"Cache-Control": "no-store"})


def add_error_handlers(app: Any) -> None:
    """Every failure as JSON {"error": ...}: bad input 4xx with what was wrong, a bug 500 with no details."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, first_problem(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail) if exc.status_code != 404 else f"no page at {request.url.path}; open /"
        return error(exc.status_code, message)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        logger.error("explorer request %s %s failed", request.method, request.url.path, exc_info=exc)
        return error(500, "internal error; see the explorer's terminal")


def create_app(explorer: Explorer, allow_remote: bool = False, uploads: UploadGate | None = None) -> Any:
    """The ASGI app: FastAPI's routes inside the Guard. No docs pages: the page is the interface."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    static = resources.files("vaegan.explorer").joinpath("static")
    add_error_handlers(app)
    add_page_routes(app, explorer, static)
    add_latent_routes(app, explorer, UploadGate() if uploads is None else uploads)
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return Guard(app, allow_remote)


def add_page_routes(app: Any, explorer: Explorer, static: Any) -> None:
    """What the page reads: itself, the run's facts, the map and the data's thumbnails."""

    @app.get("/")
    def page() -> FileResponse:
        return FileResponse(str(static.joinpath("index.html")), headers={"Cache-Control": "no-store"})

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        return page_info(explorer)

    @app.get("/api/map")
    def latent_map() -> dict[str, Any]:
        return map_payload(explorer)

    @app.get("/api/gallery")
    def gallery(
        offset: Annotated[int, Query(ge=0, le=2**31)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 120
    ) -> dict[str, Any]:
        return explorer.gallery_page(offset, limit)

    @app.get("/api/dataset/{index}.png")
    def thumbnail(index: Annotated[int, PathParam(ge=0, le=2**31)]) -> Response:
        return png(explorer.thumbnail_png(index))

    @app.get("/api/map/{index}.png")
    def map_thumbnail(index: Annotated[int, PathParam(ge=0, le=2**31)]) -> Response:
        return png(explorer.map_thumbnail_png(index))


def add_latent_routes(app: Any, explorer: Explorer, uploads: UploadGate) -> None:
    """What the page asks of the models: decode, encode (a data index or an upload), random z, paths."""

    @app.post("/api/decode")
    def decode(body: DecodeBody) -> Response:
        return png(explorer.decode_png(body.z, body.stage))

    @app.post("/api/encode")
    def encode(body: EncodeBody) -> dict[str, Any]:
        return explorer.encode_index(body.index)

    @app.post(UPLOAD_PATH)
    async def encode_image(request: Request) -> Any:
        if not await uploads.enter():
            await uploads.turn_away(request)
            return busy()
        try:
            return await run_in_threadpool(explorer.encode_upload, await read_body(request))
        finally:
            await uploads.leave()  # the body is garbage by now: the trim can hand its pages back

    @app.post("/api/random")
    def random(body: RandomBody) -> dict[str, Any]:
        return explorer.random(body.seed, body.temperature, body.stage)

    @app.post("/api/interpolate")
    def interpolate(body: InterpolateBody) -> dict[str, Any]:
        assert body.method in latent.INTERPOLATIONS  # the Literal above lists the same names
        return explorer.interpolate(body.a, body.b, body.steps, body.method, body.stage)

    @app.post("/api/traverse")
    def traverse(body: TraverseBody) -> dict[str, Any]:
        return explorer.traverse(body.z, body.dim, body.span, body.steps, body.stage)
