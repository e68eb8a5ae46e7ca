"""Outbound HTTP on Workers: an httpx transport over the runtime's own `fetch`.

Pyodide has no `ssl` module, so httpx's own transport cannot reach an `https://` URL inside a
Worker; the runtime's `fetch` does TLS itself. `FetchTransport` plugs into `httpx.AsyncClient`
like any transport, so timeouts, retries, pacing and error mapping above it are the same on
CPython (httpx's own transport) and on Workers.

Every failure of `fetch` (DNS, TLS, a refused or lost connection, a timeout) reaches the
caller as an `httpx.TransportError`, the family the Keap client already retries and maps.
Nothing from `js` or `pyodide` is imported at module level.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import httpx

log = logging.getLogger("keap_sync.fetch")

# Set by fetch itself, or describing a body fetch has already decoded.
_REQUEST_HEADERS_DROPPED = frozenset({"host", "content-length", "connection", "accept-encoding"})
_RESPONSE_HEADERS_DROPPED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def request_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    """The headers to hand to fetch: those it does not set itself."""
    return [(k, v) for k, v in headers.multi_items() if k.lower() not in _REQUEST_HEADERS_DROPPED]


def response_headers(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """fetch's response headers without those describing the encoded body.

    fetch hands over a decompressed body but keeps `content-encoding` and the compressed
    `content-length`; httpx would try to decode the body again.
    """
    return [(k, v) for k, v in pairs if k.lower() not in _RESPONSE_HEADERS_DROPPED]


def transport_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """A fetch failure as the httpx error a caller knows how to treat.

    fetch does not tell whether the request reached the server, except where the runtime
    failed before sending anything (DNS and TLS failures come back as an "internal error"):
    only those are `ConnectError`, which a caller may retry even for a POST.
    """
    name = getattr(exc, "name", "") or type(exc).__name__
    text = str(exc).splitlines()[0][:200] if str(exc) else name
    if isinstance(exc, TimeoutError) or name in {"TimeoutError", "AbortError"}:
        return httpx.ReadTimeout(f"fetch timed out: {text}", request=request)
    if "internal error" in text:
        return httpx.ConnectError(f"fetch failed before sending: {text}", request=request)
    return httpx.ReadError(f"fetch failed: {text}", request=request)


def _deadline(request: httpx.Request) -> float | None:
    """The time the whole exchange may take, from httpx's timeout settings."""
    timeout = request.extensions.get("timeout") or {}
    parts = [timeout.get("connect"), timeout.get("read")]
    known = [p for p in parts if p is not None]
    return sum(known) if known else None


class FetchTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncBaseTransport` over the Workers runtime's `fetch` (JS, through the FFI).

    Redirects are not followed (httpx decides), and every fetch has an AbortController: a
    fetch left running holds its connection until the Worker's invocation ends, so one
    that times out or is cancelled is aborted at once.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        from js import AbortController, Headers, Object, fetch
        from pyodide.ffi import to_js

        body = await request.aread()
        headers = Headers.new()
        for name, value in request_headers(request.headers):
            headers.append(name, value)
        controller = AbortController.new()
        init: dict[str, Any] = {
            "method": request.method,
            "headers": headers,
            "redirect": "manual",
            "signal": controller.signal,
        }
        if body:
            init["body"] = to_js(body)
        completed = False
        try:
            status, pairs, content = await asyncio.wait_for(
                self._exchange(
                    fetch, str(request.url), to_js(init, dict_converter=Object.fromEntries)
                ),
                _deadline(request),
            )
            completed = True
        except Exception as exc:
            raise transport_error(exc, request) from None
        finally:
            if not completed:
                controller.abort()
        url = request.url
        log.debug(
            "fetch %s %s://%s%s -> %d",
            request.method,
            url.scheme,
            url.netloc.decode(),
            url.path,
            status,
        )
        return httpx.Response(
            status, headers=response_headers(pairs), content=content, request=request
        )

    @staticmethod
    async def _exchange(
        fetch: Any, url: str, init: Any
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        response = await fetch(url, init)
        pairs = [(str(entry[0]), str(entry[1])) for entry in response.headers.entries()]
        buffer = await response.arrayBuffer()
        return int(response.status), pairs, buffer.to_bytes()
