"""Serving an ASGI app over real HTTP on 127.0.0.1, inside the caller's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn

LOWEST_PORT = 10_000  # above the fixed ports (8787-8790) and the well-known ones
_handed_out: set[int] = set()
_random = random.SystemRandom()  # whatever seeds the process's own generator


def _ephemeral_low() -> int:
    """The lowest of the ports the OS hands out on its own (a bind to port 0, an outgoing
    connection)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now, for a server started later.

    It is taken below the range the OS hands out on its own, so that no process (workerd,
    wrangler, an outgoing connection) is given it in between, and never twice in a process.
    """
    low = _ephemeral_low()
    for _ in range(200):
        port = _random.randint(LOWEST_PORT, max(LOWEST_PORT, low - 1))
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as sock:  # the range is full: any port the OS gives
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class AppServer:
    """One uvicorn server for one ASGI app; `start()` returns once it accepts connections.

    With `tls` (a certificate file and its key file, PEM) it serves HTTPS.
    """

    def __init__(
        self,
        app: Any,
        port: int,
        host: str = "127.0.0.1",
        name: str = "",
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.scheme = "https" if tls else "http"
        certfile, keyfile = tls or (None, None)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the bind error, if any
                raise RuntimeError(f"{self.name or 'server'} on port {self.port} exited")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None


@contextlib.asynccontextmanager
async def serve(app: Any, port: int | None = None, name: str = "") -> AsyncIterator[AppServer]:
    """Serve `app` on 127.0.0.1 (a free port unless given) for the duration of the block."""
    server = AppServer(app, port or free_port(), name=name)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
