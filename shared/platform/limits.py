"""Holding outsiders to the rate limits: a 429 with Retry-After once a key is over its limit.

The key is the client's IP (`CF-Connecting-IP`, which Cloudflare's edge sets and a client
cannot; locally the socket's peer when the header is absent) or an account.
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from shared.platform.interfaces import RateLimiter


def client_ip(request: Request) -> str:
    forwarded = request.headers.get("cf-connecting-ip")
    if forwarded:
        return forwarded.strip()
    return request.client.host if request.client else "unknown"


async def hold_to(limiter: RateLimiter | None, key: str) -> None:
    """Count a call for `key`; 429 (Retry-After: the limiter's period) when over its limit."""
    if limiter is not None and not await limiter.limit(key):
        retry = {"Retry-After": str(limiter.period_s)}
        raise HTTPException(429, "too many requests; try again later", retry)


async def hold_ip(request: Request, limiter: RateLimiter | None) -> None:
    await hold_to(limiter, f"ip:{client_ip(request)}")


async def hold_account(limiter: RateLimiter | None, account: str) -> None:
    await hold_to(limiter, f"account:{account}")
