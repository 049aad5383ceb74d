"""A small feature service: `featc.runtime` and the standard library, nothing else (docs/serving.md).

    FEATC_BUILD=out/food_delivery/compiled FEATC_STORE=redis://127.0.0.1:6379/0 python examples/serving/app.py

POST a JSON body {"keys": {...}, "request": {...}, "at": "2024-05-04T12:00:00Z" (optional)} to
any path; the answer is {"features": {...}, "build": "...", "boundaries": {...}}. A bad question
is a 400, a question the store cannot answer correctly a 409, an unreachable store a 503; the
message says why. `featc serve` (docs/server.md) is the production server; this is
the shape of the code a team writes around `open_store` in its own service.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any
from wsgiref.simple_server import make_server

from featc.runtime import DataError, NotServed, StoreError, Vector, open_store

STORE = open_store(os.environ.get("FEATC_BUILD", "build"), os.environ.get("FEATC_STORE", "memory://"))


def _json(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _answer(vector: Vector) -> dict[str, Any]:
    return {
        "features": vector.values,
        "build": vector.build,
        "boundaries": {
            block: {"served": b.served.isoformat() + "Z", "staleness_s": b.staleness.total_seconds()}
            for block, b in vector.boundaries.items()
        },
    }


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """One feature vector per POST."""
    try:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(min(size, 1 << 20)) or b"null")
        if not isinstance(body, dict) or not isinstance(body.get("keys"), dict):
            raise DataError('the body is a JSON object with "keys" (and optionally "request" and "at")')
        vector = STORE.get(body["keys"], body.get("request"), at=body.get("at"))
        status, out = "200 OK", _answer(vector)
    except NotServed as e:  # before DataError: it is one
        status, out = "409 Conflict", {"error": str(e)}
    except (DataError, ValueError) as e:
        status, out = "400 Bad Request", {"error": str(e)}
    except StoreError as e:
        status, out = "503 Service Unavailable", {"error": str(e)}
    payload = json.dumps(out, default=_json).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


if __name__ == "__main__":
    with make_server("127.0.0.1", int(os.environ.get("PORT", "8080")), app) as server:
        server.serve_forever()
