"""Bearer tokens: with a token set, every HTTP request must carry ``Authorization: Bearer <token>``.

Every path, /health included, and every peer, loopback included: a process on the same machine is
not trusted more than one elsewhere (docs/server.md, "Access"). The header is compared with the
expected one in constant time (``hmac.compare_digest``); a request without it, or with another
token, is a 401 before anything else runs.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from .wire import error_body

_UNAUTHORIZED = error_body("unauthorized", "this server requires `Authorization: Bearer <token>` on every request")


class BearerAuth:
    """ASGI middleware refusing HTTP requests without the bearer ``token``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not allowed(scope, self.token):
            await refuse(send)
            return
        await self.app(scope, receive, send)


def allowed(scope: Scope, token: bytes) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (compared in constant time)."""
    given = b""
    for name, value in scope["headers"]:
        if name == b"authorization":
            given = value
            break
    scheme, _, credentials = given.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(b" "), token)


async def refuse(send: Send) -> None:
    """The 401 answer, with ``WWW-Authenticate``."""
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_UNAUTHORIZED)).encode()),
        (b"www-authenticate", b'Bearer realm="featc"'),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": _UNAUTHORIZED})
