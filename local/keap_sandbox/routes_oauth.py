"""OAuth pages and endpoints: GET/POST /app/oauth/authorize and POST /token."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .auth import OAuthError
from .errors import json_response

if TYPE_CHECKING:
    from .auth import Auth

router = APIRouter()


def _auth(request: Request) -> Auth:
    return request.app.state.sandbox.auth  # type: ignore[no-any-return]


def _redirect(redirect_uri: str, **params: str) -> RedirectResponse:
    joiner = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{joiner}{urlencode(params)}", status_code=302)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    heading = html.escape(title)
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{heading}</title></head><body><h1>{heading}</h1>{body}</body></html>",
        status_code=status,
    )


@router.get("/app/oauth/authorize")
async def authorize(request: Request) -> Response:
    """Keap's consent page: redirects straight back when `auto_approve`, else asks."""
    auth, q = _auth(request), request.query_params
    client_id, redirect_uri, state = q.get("client_id"), q.get("redirect_uri"), q.get("state", "")
    if not auth.known_client(client_id):
        return _page(
            "Invalid client", "<p>The application asking for access is not known.</p>", 400
        )
    if not redirect_uri or not redirect_uri.startswith(("http://", "https://")):
        return _page("Invalid redirect_uri", "<p>A valid redirect_uri is required.</p>", 400)
    if q.get("response_type") != "code":
        return _redirect(redirect_uri, error="unsupported_response_type", state=state)
    assert client_id is not None
    if auth.config.auto_approve:
        return _redirect(redirect_uri, code=auth.issue_code(client_id, redirect_uri), state=state)
    hidden = "".join(
        f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
        for k, v in (("client_id", client_id), ("redirect_uri", redirect_uri), ("state", state))
    )
    form = (
        f"<p>Allow <b>{html.escape(client_id)}</b> to access {html.escape(auth.config.tenant)}?</p>"
        f"<form method='post' action='/app/oauth/authorize'>{hidden}"
        "<button type='submit' name='decision' value='allow'>Allow</button> "
        "<button type='submit' name='decision' value='deny'>Deny</button></form>"
    )
    return _page("Authorize access", form)


@router.post("/app/oauth/authorize")
async def decide(request: Request) -> Response:
    """The consent form's answer (only used when auto_approve is off)."""
    auth = _auth(request)
    form = dict(parse_qsl((await request.body()).decode()))
    client_id, redirect_uri, state = (
        form.get("client_id"),
        form.get("redirect_uri", ""),
        form.get("state", ""),
    )
    if not auth.known_client(client_id) or not redirect_uri:
        return _page("Invalid request", "<p>Unknown client or missing redirect_uri.</p>", 400)
    assert client_id is not None
    if form.get("decision") != "allow":
        return _redirect(redirect_uri, error="access_denied", state=state)
    return _redirect(redirect_uri, code=auth.issue_code(client_id, redirect_uri), state=state)


@router.post("/token")
async def token(request: Request) -> Response:
    """Form-encoded token endpoint: authorization_code and refresh_token grants."""
    auth = _auth(request)
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    try:
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            raise OAuthError(
                400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded"
            )
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        grant_type = form.get("grant_type")
        authorization = request.headers.get("authorization")
        if grant_type == "authorization_code":
            client_id = auth.client_from(form, authorization, basic_only=False)
            body = auth.exchange_code(client_id, form.get("code"), form.get("redirect_uri"))
        elif grant_type == "refresh_token":
            client_id = auth.client_from(form, authorization, basic_only=True)
            body = auth.refresh(client_id, form.get("refresh_token"))
        elif not grant_type:
            raise OAuthError(400, "invalid_request", "Missing grant_type")
        else:
            raise OAuthError(
                400, "unsupported_grant_type", f"Unsupported grant_type '{grant_type}'"
            )
    except OAuthError as exc:
        return json_response(exc.body(), exc.status, headers)
    return json_response(body, 200, headers)
