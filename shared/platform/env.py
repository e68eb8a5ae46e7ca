"""What a worker is given by its platform: bindings plus settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request

from shared.config import Settings
from shared.platform.interfaces import (
    KV,
    CoordinatorTransport,
    Database,
    DurableObjectNamespace,
    HttpTransport,
    RateLimiter,
)


@dataclass(frozen=True)
class WorkerEnv:
    """One worker's bindings, already converted to the `shared.platform` interfaces.

    A binding the worker does not have is None; health reports it as not configured.
    `http_transport` is how outbound HTTP leaves the worker: None for httpx's own transport
    (CPython), the runtime's `fetch` on Workers. `instance` is what this worker instance keeps
    between requests (on Workers, one per isolate: the env itself is built per request).
    """

    settings: Settings
    kv: KV | None = None
    database: Database | None = None
    coordinator: CoordinatorTransport | None = None
    durable_objects: DurableObjectNamespace | None = None
    http_transport: HttpTransport | None = None
    ip_limiter: RateLimiter | None = None  # `IP_LIMITER`: per client IP
    account_limiter: RateLimiter | None = None  # `ACCOUNT_LIMITER`: per account
    instance: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def new_transport(self) -> httpx.AsyncBaseTransport | None:
        """A transport for one new HTTP client (None: httpx's own)."""
        return self.http_transport() if self.http_transport is not None else None


async def worker_env(request: Request) -> WorkerEnv:
    """FastAPI dependency: the env the platform put in the ASGI scope.

    Async on purpose: FastAPI runs plain-function dependencies on a thread pool, and
    Pyodide has no threads.

    Cloudflare's ASGI server puts `env` in the scope; the entry modules hand it a
    `WorkerEnv` already, and so does the local runtime.
    """
    env = request.scope.get("env")
    if not isinstance(env, WorkerEnv):
        raise RuntimeError("worker started without a WorkerEnv in the ASGI scope")
    return env


Env = Annotated[WorkerEnv, Depends(worker_env)]
"""Annotation for a route parameter that receives the worker's env."""
