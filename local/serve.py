"""Serving an ASGI app over real HTTP on 127.0.0.1, inside the caller's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
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
