"""Helpers for the sandbox tests: a served sandbox, OAuth tokens, a hook receiver, and
Keap's own OpenAPI document as the judge of response shapes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from starlette.types import Receive, Scope, Send
from werkzeug.datastructures import Headers, ImmutableMultiDict

from local.keap_sandbox import RunningSandbox, SandboxConfig, serve_sandbox
from local.serve import AppServer, serve
from tests.conftest import KEAP_FACTS

REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"
SPEC_SERVER = "https://api.keap.com"  # the spec's server is https://api.keap.com/crm


# -- a served sandbox ------------------------------------------------------------------


def small_config(**overrides: Any) -> SandboxConfig:
    """A quick sandbox: small data set, hooks on a 1/1000 clock, limits off (their own
    tests turn them on)."""
    values: dict[str, Any] = {
        "limits_enabled": False,
        "contacts": 300,
        "companies": 20,
        "opportunities": 30,
        "orders": 30,
        "tasks": 30,
        "products": 12,
        "tags": 15,
        "notes": 40,
        "subscriptions": 20,
        "hook_time_scale": 0.001,
    }
    values.update(overrides)
    return SandboxConfig(**values)


@pytest.fixture
async def keap() -> AsyncIterator[RunningSandbox]:
    async with serve_sandbox(small_config()) as running:
        yield running


def basic(config: SandboxConfig) -> str:
    raw = f"{config.client_id}:{config.client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


async def authorize(keap: RunningSandbox, client: httpx.AsyncClient) -> dict[str, Any]:
    """The OAuth dance: authorize page -> code -> tokens."""
    config = keap.sandbox.config
    page = await client.get(
        keap.authorize_url,
        params={
            "client_id": config.client_id,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": "full",
            "state": "s1",
        },
    )
    assert page.status_code == 302, page.text
    code = parse_qs(urlsplit(page.headers["location"]).query)["code"][0]
    answer = await client.post(
        keap.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        },
    )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def authorized_client(keap: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A client for /crm/rest with a bearer token from the real OAuth flow."""
    async with httpx.AsyncClient(timeout=30) as plain:
        tokens = await authorize(keap, plain)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with httpx.AsyncClient(base_url=keap.api_base, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
async def api(keap: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with authorized_client(keap) as client:
        yield client


# One sandbox for a whole module, for tests that only read or add records of their own
# (such a module marks itself `pytest.mark.asyncio(loop_scope="module")`).
@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_keap() -> AsyncIterator[RunningSandbox]:
    async with serve_sandbox(small_config()) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_api(module_keap: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with authorized_client(module_keap) as client:
        yield client


def items(response: httpx.Response, key: str) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return response.json()[key]  # type: ignore[no-any-return]


async def list_all(
    client: httpx.AsyncClient,
    path: str,
    key: str,
    params: dict[str, Any] | None = None,
    between_pages: Callable[[], Any] | None = None,
) -> list[dict[str, Any]]:
    """Every record of a list endpoint, following next_page_token to the end."""
    out: list[dict[str, Any]] = []
    token = None
    while True:
        query = dict(params or {})
        if token:
            query["page_token"] = token
        response = await client.get(path, params=query)
        out.extend(items(response, key))
        token = response.json().get("next_page_token")
        if not token:
            return out
        if between_pages is not None:
            between_pages()


# -- a hook receiver -------------------------------------------------------------------


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 whose behaviour a test scripts.

    `echo`: answer the handshake with the X-Hook-Secret. `statuses`: answers to give to
    deliveries in turn (the last one repeats). `hold`: answer deliveries only once it is set.
    """

    echo: bool = True
    statuses: list[int] = field(default_factory=lambda: [200])
    hold: asyncio.Event | None = None
    handshakes: list[str] = field(default_factory=list)
    deliveries: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        secret = headers.get("x-hook-secret")
        if secret is not None:
            self.handshakes.append(secret)
            answer = [(b"x-hook-secret", secret.encode())] if self.echo else []
            await send({"type": "http.response.start", "status": 200, "headers": answer})
            await send({"type": "http.response.body", "body": b""})
            return
        self.deliveries.append((asyncio.get_running_loop().time(), json.loads(body)))
        if self.hold is not None:
            await self.hold.wait()
        n = len(self.deliveries) - 1
        status = self.statuses[min(n, len(self.statuses) - 1)]
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    server: AppServer
    async with serve(recv, name="hook-receiver") as server:
        recv.url = f"{server.url}/keap/hooks"
        yield recv


# -- Keap's OpenAPI document -----------------------------------------------------------


def _patched_spec() -> dict[str, Any]:
    path = KEAP_FACTS / "keap-v2-openapi.yml"
    if not path.exists():
        pytest.fail(f"Keap's OpenAPI document is not at {path}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec: dict[str, Any] = yaml.load(path.read_text(), Loader=loader)  # noqa: S506 - a safe loader
    # Spec defect, handled narrowly: Task.remind_time_mins is `type: integer` with an enum
    # of *strings* ("5", "10", ...), which no value can satisfy. Keap sends integers, so
    # the enum is read as the integers it spells.
    schemas = spec["components"]["schemas"]
    for name in ("Task", "UpdateTaskResponse", "CreateTaskRequest", "CreateUpdateTaskRequest"):
        prop = schemas[name]["properties"]["remind_time_mins"]
        prop["enum"] = [int(v) for v in prop["enum"]]
    return spec


@cache
def keap_spec() -> dict[str, Any]:
    return _patched_spec()


@cache
def keap_openapi() -> OpenAPI:
    # The document itself is not re-validated (1.3 MB; it is Keap's, not ours).
    return OpenAPI.from_dict(keap_spec(), config=Config(spec_validator_cls=None))


@cache
def hook_envelope_schema() -> dict[str, Any]:
    """HookEnvelope from keap-resthooks-asyncapi.yml, its object key schema inlined."""
    path = KEAP_FACTS / "keap-resthooks-asyncapi.yml"
    if not path.exists():
        pytest.fail(f"Keap's hook description is not at {path}")
    schemas = yaml.safe_load(path.read_text())["components"]["schemas"]
    envelope = dict(schemas["HookEnvelope"])
    properties = dict(envelope["properties"])
    properties["object_keys"] = {**properties["object_keys"], "items": schemas["HookObjectKey"]}
    return {**envelope, "properties": properties}


class SpecRequest:
    """An httpx request seen through openapi-core's request protocol, moved onto the
    spec's server URL (`https://api.keap.com/crm` + `/rest/v2/...`)."""

    def __init__(self, request: httpx.Request) -> None:
        self.host_url = SPEC_SERVER
        self.path = request.url.path
        self.method = request.method.lower()
        self.body = request.content or b""
        self.content_type = request.headers.get("content-type", "application/json")
        query = ImmutableMultiDict(list(request.url.params.multi_items()))
        self.parameters = RequestParameters(query=query, header=Headers(dict(request.headers)))


class SpecResponse:
    def __init__(self, response: httpx.Response) -> None:
        self.data = response.content
        self.status_code = response.status_code
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(dict(response.headers))


def assert_matches_spec(response: httpx.Response) -> None:
    """The request fits the operation's parameters and the response fits its schema."""
    openapi = keap_openapi()
    request = SpecRequest(response.request)
    with warnings.catch_warnings():
        # openapi-core cannot check OAuth 2 security schemes and says so on every call.
        warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
        openapi.validate_request(request)
        openapi.validate_response(request, SpecResponse(response))
