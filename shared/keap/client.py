"""The one HTTP client for Keap data calls.

It asks the coordinator for a credential (cached until near its expiry), reports a
401 once and retries with the refreshed credential, paces itself from Keap's throttle
headers, and retries 429, 5xx and network failures with jittered backoff. Tokens
never reach a log line, an exception message or a response.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from shared.config import Settings
from shared.coordinator.client import KeapAccess
from shared.keap.errors import (
    KeapAuthError,
    KeapNotFound,
    KeapQuotaExhausted,
    KeapRequestError,
    KeapUnavailable,
)
from shared.keap.pacing import (
    Backoff,
    Pacer,
    QuotaExhausted,
    retry_after_seconds,
    shared_pacer,
)

log = logging.getLogger("keap_sync.keap")

ACCESS_MARGIN_S = 120.0  # refetch a cached OAuth access this long before it expires
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
Params = Mapping[str, str | int]


class Credentials(Protocol):
    """Where Keap credentials come from: the coordinator in production."""

    async def get_access(self) -> KeapAccess: ...

    async def report_unauthorized(self, token: str) -> KeapAccess: ...


@dataclass
class StaticCredentials:
    """A fixed credential (a Personal Access Token), for tools and benchmarks."""

    access: KeapAccess

    async def get_access(self) -> KeapAccess:
        return self.access

    async def report_unauthorized(self, token: str) -> KeapAccess:
        raise KeapAuthError("Keap refused the API key", 401)


@dataclass
class KeapResponse:
    status: int
    text: str
    headers: httpx.Headers
    _data: Any = field(default=None, repr=False)

    def json(self) -> Any:
        if self._data is None:
            self._data = json.loads(self.text)
        return self._data


def _error_message(response: httpx.Response) -> str:
    """Keap's own words for an error (v2 `message`, v1 `message` or an Apigee fault)."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        fault = body.get("fault")
        if isinstance(fault, dict):
            return str(fault.get("faultstring", ""))[:300]
        return str(body.get("message", ""))[:300]
    return f"HTTP {response.status_code}"


class KeapClient:
    """`await client.get("/v2/contacts", params)`; use as an async context manager."""

    def __init__(
        self,
        settings: Settings,
        credentials: Credentials,
        *,
        pacer: Pacer | None = None,
        backoff: Backoff | None = None,
        http: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        on_request: Callable[[], None] | None = None,
    ) -> None:
        self._credentials = credentials
        self._pacer = pacer
        self.backoff = backoff or Backoff()
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(
            base_url=settings.KEAP_API_BASE,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "keap-supabase-sync"},
        )
        self._access: KeapAccess | None = None
        self._on_request = on_request
        self.requests = 0  # HTTP attempts made, retries included (Cloudflare subrequests)
        self.retries = 0

    async def __aenter__(self) -> KeapClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    @property
    def pacer(self) -> Pacer:
        if self._pacer is None:
            kind = self._access.kind if self._access else "api_key"
            self._pacer = shared_pacer(str(self._http.base_url), kind)
        return self._pacer

    async def access(self) -> KeapAccess:
        """The cached credential, or a fresh one from the coordinator when it nears expiry."""
        access = self._access
        if access is None or (
            access.expires_at is not None and access.expires_at - ACCESS_MARGIN_S < time.time()
        ):
            access = self._access = await self._credentials.get_access()
        return access

    async def get(self, path: str, params: Params | None = None) -> KeapResponse:
        """GET a Keap path (relative to KEAP_API_BASE); raises a KeapError on failure."""
        return await self.request("GET", path, params=params)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
    ) -> KeapResponse:
        """Any Keap call, with the same auth, pacing and retries.

        A POST is not idempotent: it is retried only when Keap cannot have acted on it
        (429, or no connection made), never after a 5xx or a lost answer.
        """
        method = method.upper()
        idempotent = method != "POST"
        what = f"{method} {path}"
        access = await self.access()
        refreshed = False
        attempt = 0
        while True:
            try:
                await self.pacer.acquire()
            except QuotaExhausted as exc:
                raise KeapQuotaExhausted(str(exc), 429) from None
            self.requests += 1
            if self._on_request is not None:
                self._on_request()
            try:
                response = await self._http.request(
                    method, path, params=params, json=json, headers=access.headers()
                )
            except httpx.TransportError as exc:
                if not idempotent and not isinstance(exc, httpx.ConnectError):
                    problem = type(exc).__name__
                    raise KeapUnavailable(f"Keap did not answer {what}: {problem}") from None
                problem = f"network error ({type(exc).__name__})"
                attempt = await self._retry_or_raise(what, attempt, problem, None)
                continue
            # httpx links a response and its stream both ways. Unlinked, a page's body
            # goes as soon as the page is written; linked, it waits for the cycle
            # collector, and pages pile up in memory.
            response.stream = httpx.ByteStream(b"")
            self.pacer.observe(response.headers)
            status = response.status_code
            if status < 400:
                return KeapResponse(status, response.text, response.headers)
            if status == 401 and not refreshed:
                refreshed = True
                access = self._access = await self._credentials.report_unauthorized(access.token)
                continue
            if status == 401:
                raise KeapAuthError("Keap refused the credential after a refresh", 401)
            if status == 404:
                raise KeapNotFound(f"Keap has no {path}", 404)
            retryable = status == 429 or (status >= 500 and idempotent)
            if retryable:
                if status == 429 and self.pacer.exhausted is not None:
                    raise KeapQuotaExhausted(str(self.pacer.exhausted), 429)
                problem = f"HTTP {status}: {_error_message(response)}"
                retry_after = retry_after_seconds(response.headers)
                attempt = await self._retry_or_raise(what, attempt, problem, retry_after)
                continue
            error = KeapUnavailable if status >= 500 else KeapRequestError
            raise error(f"Keap refused {what} (HTTP {status}): {_error_message(response)}", status)

    async def _retry_or_raise(
        self, what: str, attempt: int, problem: str, retry_after: float | None
    ) -> int:
        if self.backoff.gives_up(attempt):
            raise KeapUnavailable(
                f"Keap did not answer {what} after {attempt + 1} attempts: {problem}"
            )
        delay = self.backoff.delay(attempt, retry_after)
        self.retries += 1
        log.warning("Keap %s: %s; retry %d in %.1f s", what, problem, attempt + 1, delay)
        await self.pacer.sleep(delay)
        return attempt + 1
