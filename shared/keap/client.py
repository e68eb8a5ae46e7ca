"""The one HTTP client for Keap data calls.

It asks the coordinator for a credential (cached until near its expiry), reports a
401 once and retries with the refreshed credential, paces itself from Keap's throttle
headers, and retries 429, 5xx and network failures with jittered backoff. Tokens
never reach a log line, an exception message or a response.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.config import Settings
from shared.keap.credentials import REFETCH_BEFORE_EXPIRY_S, Credentials, KeapAccess
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
from shared.platform.connections import Connections

log = logging.getLogger("keap_sync.keap")

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
Params = Mapping[str, str | int | list[str]]  # a list: one parameter per item


@dataclass
class KeapResponse:
    status: int
    content: bytes  # the body as received: a page goes on to Postgres as these bytes
    headers: httpx.Headers
    reason: str = ""
    _data: Any = field(default=None, repr=False)
    _text: str | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        """The body as text (Keap sends UTF-8), decoded when first asked for."""
        if self._text is None:
            self._text = self.content.decode("utf-8", "replace")
        return self._text

    def json(self) -> Any:
        if self._data is None:
            self._data = json.loads(self.content)
        return self._data

    def fault_code(self) -> str:
        """The Apigee error code of a gateway refusal (`policies.ratelimit.QuotaViolation`)."""
        try:
            body = self.json()
        except ValueError:
            return ""
        fault = body.get("fault") if isinstance(body, dict) else None
        detail = fault.get("detail") if isinstance(fault, dict) else None
        return str(detail.get("errorcode", "")) if isinstance(detail, dict) else ""

    def message(self) -> str:
        """Keap's own words for an error (v2 `message`, v1 `message` or an Apigee fault)."""
        try:
            body = self.json()
        except ValueError:
            return self.reason or f"HTTP {self.status}"
        if isinstance(body, dict):
            fault = body.get("fault")
            if isinstance(fault, dict):
                return str(fault.get("faultstring", ""))[:300]
            return str(body.get("message", ""))[:300]
        return f"HTTP {self.status}"


@contextlib.asynccontextmanager
async def _no_slot() -> AsyncIterator[None]:
    yield


class KeapClient:
    """`await client.get("/v2/contacts", params)`; use as an async context manager.

    Without `credentials` it makes unauthenticated calls only (`post_form`, for the OAuth
    token endpoint). `transport` is how requests leave the process (see `WorkerEnv`):
    httpx's own when None, the runtime's `fetch` on Workers.
    """

    def __init__(
        self,
        settings: Settings,
        credentials: Credentials | None = None,
        *,
        pacer: Pacer | None = None,
        backoff: Backoff | None = None,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        on_request: Callable[[], None] | None = None,
        connections: Connections | None = None,
    ) -> None:
        self._credentials = credentials
        self._pacer = pacer
        self.backoff = backoff or Backoff()
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(
            base_url=settings.KEAP_API_BASE,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "keap-supabase-sync"},
        )
        self._access: KeapAccess | None = None
        self._on_request = on_request
        # Requests in flight hold a slot each (see `Connections`); unbounded without.
        self._connections = connections
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

    def _require_credentials(self) -> Credentials:
        if self._credentials is None:
            raise KeapAuthError("this Keap client has no credentials", 401)
        return self._credentials

    async def access(self) -> KeapAccess:
        """The cached credential, or a fresh one from the coordinator when it nears expiry."""
        access = self._access
        if access is None or (
            access.expires_at is not None
            and access.expires_at - REFETCH_BEFORE_EXPIRY_S < time.time()
        ):
            access = self._access = await self._require_credentials().get_access()
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
        """Any authenticated Keap call, with pacing and retries; a KeapError on failure.

        A 401 refreshes the credential once (through the coordinator) and tries again.
        """
        method = method.upper()
        what = f"{method} {path}"
        access = await self.access()
        refreshed = False
        while True:
            response = await self._send(
                method, path, params=params, json=json, headers=access.headers()
            )
            status = response.status
            if status < 400:
                return response
            if status == 401 and not refreshed:
                refreshed = True
                credentials = self._require_credentials()
                access = self._access = await credentials.report_unauthorized(access.token)
                continue
            if status == 401:
                raise KeapAuthError("Keap refused the credential after a refresh", 401)
            if status == 404:
                raise KeapNotFound(f"Keap has no {path}", 404)
            error = KeapUnavailable if status >= 500 else KeapRequestError
            raise error(f"Keap refused {what} (HTTP {status}): {response.message()}", status)

    async def post_form(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> KeapResponse:
        """An unauthenticated form POST (the OAuth token endpoint): the answer whatever its
        status, after the same pacing and retries (429, or no connection made)."""
        return await self._send("POST", url, data=dict(form), headers=dict(headers))

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> KeapResponse:
        """One call under the retry policy; the last answer Keap gave.

        429s are retried, and 5xx and network failures too unless the call is a POST,
        which is retried only when Keap cannot have acted on it (429, or no connection
        made), never after a 5xx or a lost answer. A spent daily quota stops at once.
        """
        idempotent = method != "POST"
        what = f"{method} {url}"
        attempt = 0
        while True:
            try:
                response = await self._paced(
                    method, url, params=params, json=json, data=data, headers=headers
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
            answer = KeapResponse(
                status, response.content, response.headers, response.reason_phrase
            )
            retryable = status == 429 or (status >= 500 and idempotent)
            if not retryable:
                return answer
            if status == 429:
                if self.pacer.exhausted is not None:
                    raise KeapQuotaExhausted(str(self.pacer.exhausted), 429)
                self.pacer.refused(answer.fault_code(), answer.message())
            problem = f"HTTP {status}: {answer.message()}"
            retry_after = retry_after_seconds(response.headers)
            attempt = await self._retry_or_raise(what, attempt, problem, retry_after)

    async def _paced(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One attempt: a connection slot first, then the pacer's turn, then the request,
        so a request sent goes at the pace the pacer set, not when a slot came free."""
        async with self._connections.slot() if self._connections else _no_slot():
            try:
                await self.pacer.acquire()
            except QuotaExhausted as exc:
                raise KeapQuotaExhausted(str(exc), 429) from None
            self.requests += 1
            if self._on_request is not None:
                self._on_request()
            response = await self._http.request(method, url, **kwargs)
            # Read while the slot is held: the body is what the connection carries.
            await response.aread()
            return response

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
