"""Running a sandbox over real HTTP on 127.0.0.1 for the length of an `async with`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from local.serve import AppServer, serve

from .app import create_sandbox_app
from .config import SandboxConfig
from .sandbox import Sandbox


@dataclass
class RunningSandbox:
    """A served sandbox and the three URLs production code knows Keap by."""

    server: AppServer
    sandbox: Sandbox

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api_base(self) -> str:
        return f"{self.server.url}/crm/rest"

    @property
    def token_url(self) -> str:
        return f"{self.server.url}/token"

    @property
    def authorize_url(self) -> str:
        return f"{self.server.url}/app/oauth/authorize"


@contextlib.asynccontextmanager
async def serve_sandbox(
    config: SandboxConfig | None = None, port: int | None = None
) -> AsyncIterator[RunningSandbox]:
    """Serve a new sandbox; on exit stop its background work, then the server."""
    app = create_sandbox_app(config)
    sandbox: Sandbox = app.state.sandbox
    async with serve(app, port=port, name="keap-sandbox") as server:
        sandbox.start()
        try:
            yield RunningSandbox(server, sandbox)
        finally:
            await sandbox.aclose()
