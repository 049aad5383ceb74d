"""The feature server: one compiled build's vectors over HTTP (docs/server.md).

``featc serve BUILD_DIR --store URL`` or, with the runtime alone, ``python -m featc.runtime.serve``.
Needs the `serve` extra (``pip install 'featc-runtime[serve]'`` or ``'featc[serve]'``): Starlette
under uvicorn, orjson, prometheus-client. ``featc.runtime`` never imports this package.

* ``config``: the options of a run and the checks made before binding (address, token);
* ``wire``: request bodies checked against the build, answers encoded (the wire format);
* ``openapi``: the build's typed OpenAPI document;
* ``app``: the ASGI application and its endpoints, with a hook (``Sink``) per served vector;
* ``auth``, ``metrics``, ``health``: bearer tokens, /metrics, /ready and the start-up check;
* ``server``: uvicorn, one process or several workers; ``startup``: ``--ingest`` for memory://.
"""

from __future__ import annotations

from .config import ServeConfig
from .server import run

__all__ = ["ServeConfig", "run"]
