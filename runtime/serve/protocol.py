"""uvicorn's httptools protocol, with each answer's head and body written to the socket at once.

An ASGI answer is two messages, its head and its body, and uvicorn writes each to the transport as
it comes: two ``write`` calls, which uvloop sends at once, two TCP segments, and a client woken
twice (once for a head it cannot use yet). For a feature vector (a head of about 110 bytes, a body
of 1 kB) that was a third of the server's system time. ``Coalescing`` holds a response head until
the body's first bytes arrive, which for the vector endpoints is in the same step of the event loop,
and writes them together; a head with no body yet (a streamed answer, a handler that fails between
the two messages) goes out at the end of the loop's current iteration, so nothing waits longer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_HEAD = b"HTTP/1.1 "
_CONTINUE = b"HTTP/1.1 100"


class Coalescing:
    """A transport whose response heads wait for the next write (or the loop's next iteration)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
        elif data.startswith(_HEAD) and not data.startswith(_CONTINUE):
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Writes a held head now."""
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a ``Coalescing`` transport (``uvicorn.Config(http=Protocol)``)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(Coalescing(transport, self.loop))  # type: ignore[arg-type]
