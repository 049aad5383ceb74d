"""The hot path: the two vector endpoints as plain ASGI apps, and the front that answers them first.

Starlette, with its middleware and routing, is what every other endpoint goes through. Through it, a
single vector cost the server about 90 µs of CPU around the store's answer (a Request, query and
header objects, routing by regular expression, two exception middlewares, a Response, the metrics
middleware wrapping ``send``), more than uvicorn itself (about 35 µs). ``Front`` answers an exact
``POST /v1/features`` or ``POST /v1/features/batch`` itself: the token checked, the body read with
its limit, the answer sent as two messages and counted, and nothing else. Any other request, and
any other method on those paths (405), goes to Starlette as before; Starlette's routes for the two
paths are the same ``Endpoint`` objects, so both ways answer alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from . import wire
from .auth import allowed, refuse
from .metrics import Metrics
from .wire import WireError

LOG = logging.getLogger("featc.serve")
Answer = Callable[[bytes, bytes, float], Awaitable[tuple[int, bytes]]]
"""An endpoint's work: (body, raw query string, when the request arrived) -> (status, JSON body)."""
INTERNAL = wire.error_body("internal", "internal error: the server's log has the details")


class Endpoint:
    """One POST endpoint as a plain ASGI app: the body (refused once it passes ``max_body``), then ``answer``."""

    def __init__(self, answer: Answer, max_body: int) -> None:
        self.answer, self.max_body = answer, max_body

    async def respond(self, scope: Scope, receive: Receive) -> tuple[int, bytes] | None:
        """(status, JSON body), or None if the client left before sending its whole body."""
        received = time.time()
        try:
            body = await read_body(scope, receive, self.max_body)
        except WireError as e:
            return e.status, wire.error_body(e.code, e.message)
        if body is None:
            return None
        return await self.answer(body, scope["query_string"], received)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answered = await self.respond(scope, receive)
        if answered is not None:
            await send_json(send, *answered)


class Front:
    """The outermost ASGI app: ``hot`` endpoints (exact path, POST) answered directly, the rest by ``rest``."""

    def __init__(self, hot: Mapping[str, Endpoint], rest: ASGIApp, metrics: Metrics, token: str | None) -> None:
        self.hot, self.rest, self.metrics = dict(hot), rest, metrics
        self.token = None if token is None else token.encode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.hot.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if endpoint is None:
            await self.rest(scope, receive, send)
            return
        started = time.perf_counter()
        if self.token is not None and not allowed(scope, self.token):
            await refuse(send)
            status = 401
        else:
            try:
                answered = await endpoint.respond(scope, receive)
            except Exception as exc:  # a bug: its details in the log, the client a 500 with the error shape
                LOG.error("internal error answering %s %s", scope["method"], scope["path"], exc_info=exc)
                answered = 500, INTERNAL
            if answered is None:  # the client left: nothing was answered, so nothing is counted
                return
            status = answered[0]
            await send_json(send, status, answered[1])
        self.metrics.observe(scope["path"], status, time.perf_counter() - started)


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The request body, refused (413) as soon as the declared length or the bytes read pass ``limit``;
    None if the client disconnected first."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > limit:
                raise _too_large(limit)
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        if not message.get("more_body", False):
            return b"".join((*chunks, chunk)) if chunks else chunk
        chunks.append(chunk)


def _too_large(limit: int) -> WireError:
    return WireError(413, "body_too_large", f"the body is larger than {limit} bytes; send less per request")


async def send_json(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A JSON answer: status, content type and length, then the body."""
    head: list[Any] = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if headers:
        head.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
