"""A private ``redis-server`` and a loopback TCP proxy in front of it, for fault tests.

``RedisServer`` runs ``redis-server`` on a free 127.0.0.1 port with no persistence, so a test
may stop it, start it again on the same port, or CLIENT KILL its clients without touching the
machine's Redis on 6379. ``Proxy`` forwards bytes between the store and that server and cuts
them at exact points: a connection dropped when the client's bytes reach a marker (before a
transaction's EXEC reaches the server) or when the server's reach one (after EXEC was applied,
before its reply reaches the client), after a number of bytes, replies delayed past a timeout
(all of them, or one held at a marker),
every connection dropped now, new connections refused for a while. Standard library only.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

EXEC = b"*1\r\n$4\r\nEXEC\r\n"
"""EXEC as the client sends it."""
EXEC_REPLY = b"QUEUED\r\n*"
"""Where a transaction's EXEC reply starts in the server's bytes (after the last +QUEUED): once
the server sends it, it has applied the transaction."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command(port: int, *args: str, timeout: float = 1.0) -> bytes:
    """One command to a Redis server on 127.0.0.1 (RESP by hand): its raw reply, first bytes."""
    packed = f"*{len(args)}\r\n".encode() + b"".join(f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(packed)
        return s.recv(65536)


@contextlib.contextmanager
def private_server(missing: Callable[[str], None]) -> Iterator[RedisServer]:
    """A ``RedisServer`` started for a test module, stopped at the end whatever happened; without
    ``redis-server`` on the machine, ``missing`` (``services.missing``: a skip, or under CI a failure) says so."""
    if not shutil.which("redis-server") and not Path(REDIS_SERVER).exists():
        missing("redis-server is not installed (these tests start a private one)")
    s = RedisServer()
    s.start()
    try:
        yield s
    finally:
        s.stop()


class RedisServer:
    """``redis-server`` on 127.0.0.1:``port`` as a child process; ``start``/``stop`` may repeat."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, wait: float = 10.0) -> None:
        assert self.process is None, "already running"
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning", "--dir", tempfile.gettempdir()]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                self.process = None
                raise RuntimeError(f"redis-server on port {self.port} exited: {err.strip()}")
            try:
                if _command(self.port, "PING", timeout=0.5).startswith(b"+PONG"):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING within {wait} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stderr:
            process.stderr.close()

    def command(self, *args: str) -> bytes:
        """A command sent straight to the server (not through any proxy)."""
        return _command(self.port, *args)


@dataclass
class Cut:
    """Where to drop a connection: in the client's bytes (``upstream``) or the server's, at a
    ``marker`` (plus ``offset`` bytes; the bytes before the cut are forwarded, the rest never
    are) or, without a marker, after ``after`` more bytes; ``times`` connections (None: every one)."""

    upstream: bool
    marker: bytes | None = None
    offset: int = 0
    after: int = 0
    times: int | None = 1
    skip: int = 0  # matches let through before the first cut
    refuse: float = 0.0  # then drop every connection and refuse new ones for this long (seconds)
    hold: float = 0.0  # instead of dropping the connection, hold its bytes back this long (seconds)
    hits: int = 0


@dataclass
class _Pair:
    client: socket.socket
    server: socket.socket
    tails: dict[bool, bytes] = field(default_factory=lambda: {True: b"", False: b""})
    closed: bool = False


class Proxy:
    """127.0.0.1:``port`` -> 127.0.0.1:``upstream``, with faults to order (see the module docstring)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._cuts: list[Cut] = []
        self._threads: list[threading.Thread] = []
        self.delay = 0.0  # seconds each chunk of the server's bytes is held back
        self._refuse_until = 0.0
        self.connections = 0  # accepted and forwarded, ever
        self.cuts = 0  # connections dropped by a Cut, ever
        self.refused = 0  # connections refused, ever
        self._running = True
        self._spawn(self._accept)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    # ------------------------------------------------------------ faults

    def cut(self, cut: Cut) -> Cut:
        """Arm ``cut``; it drops the next ``cut.times`` connections that reach it."""
        with self._lock:
            self._cuts.append(cut)
        return cut

    def clear(self) -> None:
        """No more faults: cuts disarmed, no delay, connections accepted."""
        with self._lock:
            self._cuts.clear()
            self.delay = 0.0
            self._refuse_until = 0.0

    def drop_all(self) -> int:
        """Drop every open connection now; returns how many."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            self._close(pair)
        return len(pairs)

    def refuse(self, seconds: float) -> None:
        """Close every new connection as soon as it is accepted, for ``seconds``."""
        with self._lock:
            self._refuse_until = time.monotonic() + seconds

    def close(self) -> None:
        self._running = False
        self.drop_all()
        self._listener.close()
        for t in self._threads:
            t.join(timeout=5)

    # ------------------------------------------------------------ forwarding

    def _spawn(self, target: object, *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        t.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [t]

    def _accept(self) -> None:
        while self._running:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                refused = time.monotonic() < self._refuse_until
            if refused:
                self.refused += 1
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()  # a reset, as a refused connection
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=2)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            client.settimeout(None)
            pair = _Pair(client, server)
            with self._lock:
                self._pairs.append(pair)
                self.connections += 1
            self._spawn(self._pump, pair, True)
            self._spawn(self._pump, pair, False)

    def _pump(self, pair: _Pair, upstream: bool) -> None:
        source, sink = (pair.client, pair.server) if upstream else (pair.server, pair.client)
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if not upstream and self.delay:
                    time.sleep(self.delay)
                hit = self._cut_at(pair, upstream, data)
                if hit is not None:
                    at, cut = hit
                    if cut.hold:
                        time.sleep(cut.hold)
                        sink.sendall(data)
                        continue
                    sink.sendall(data[:at])
                    if cut.refuse:
                        self.refuse(cut.refuse)
                        self.drop_all()
                    break
                sink.sendall(data)
        except OSError:
            pass
        self._close(pair)

    def _cut_at(self, pair: _Pair, upstream: bool, data: bytes) -> tuple[int, Cut] | None:
        """Where in ``data`` an armed cut drops this connection, and the cut, if one does."""
        with self._lock:
            tail = pair.tails[upstream]
            seen = tail + data
            for cut in self._cuts:
                if cut.upstream != upstream or (cut.times is not None and cut.hits >= cut.times):
                    continue
                if cut.marker is None:
                    if cut.after >= len(data):
                        cut.after -= len(data)
                        continue
                    at = cut.after
                else:
                    found = seen.find(cut.marker, max(0, len(tail) - len(cut.marker) + 1))
                    if found < 0:
                        continue
                    at = min(max(found - len(tail) + cut.offset, 0), len(data))
                    if cut.skip:
                        cut.skip -= 1
                        continue
                cut.hits += 1
                self.cuts += 1
                return at, cut
            keep = max((len(c.marker) for c in self._cuts if c.marker), default=1) - 1
            pair.tails[upstream] = seen[len(seen) - keep :] if keep else b""
            return None

    def _close(self, pair: _Pair) -> None:
        with self._lock:
            if pair.closed:
                return
            pair.closed = True
            if pair in self._pairs:
                self._pairs.remove(pair)
        for s in (pair.client, pair.server):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
