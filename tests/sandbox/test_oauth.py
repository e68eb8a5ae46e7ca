"""OAuth as Keap does it: authorize page, codes, single-use rotating refresh tokens."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx

from local.keap_sandbox import RunningSandbox, serve_sandbox
from tests.sandbox.conftest import REDIRECT_URI, authorize, basic, small_config

INVALID_REFRESH = {"error": "invalid_grant", "error_description": "Invalid refresh token"}


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def _refresh(client: httpx.AsyncClient, keap: RunningSandbox, token: str) -> httpx.Response:
    return await client.post(
        keap.token_url,
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers={"Authorization": basic(keap.sandbox.config)},
    )


async def _contacts(client: httpx.AsyncClient, keap: RunningSandbox, access: str) -> httpx.Response:
    return await client.get(
        f"{keap.api_base}/v2/contacts",
        params={"page_size": 1},
        headers={"Authorization": f"Bearer {access}"},
    )


async def test_authorize_redirects_with_code_and_state_and_the_code_buys_tokens(
    keap: RunningSandbox,
) -> None:
    async with httpx.AsyncClient() as client:
        tokens = await authorize(keap, client)
        assert set(tokens) == {"access_token", "refresh_token", "expires_in", "token_type", "scope"}
        assert tokens["token_type"] == "bearer"
        assert tokens["expires_in"] == 86400
        assert tokens["scope"] == "full|sandbox123.infusionsoft.com"
        assert (await _contacts(client, keap, tokens["access_token"])).status_code == 200
    assert keap.sandbox.grant_counts["authorization_code"] == 1


async def test_a_code_works_once_and_only_with_its_redirect_uri(keap: RunningSandbox) -> None:
    config = keap.sandbox.config
    async with httpx.AsyncClient() as client:
        page = await client.get(
            keap.authorize_url,
            params={
                "client_id": config.client_id,
                "redirect_uri": REDIRECT_URI,
                "response_type": "code",
                "state": "x",
            },
        )
        code = _query(page.headers["location"])["code"]
        form = {"grant_type": "authorization_code", "code": code, "client_id": config.client_id}
        form["client_secret"] = config.client_secret
        wrong = await client.post(
            keap.token_url, data={**form, "redirect_uri": "http://elsewhere/cb"}
        )
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        ok = await client.post(keap.token_url, data={**form, "redirect_uri": REDIRECT_URI})
        assert ok.status_code == 200
        again = await client.post(keap.token_url, data={**form, "redirect_uri": REDIRECT_URI})
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert keap.sandbox.grant_counts["authorization_code"] == 1


async def test_consent_page_allow_and_deny() -> None:
    async with (
        serve_sandbox(small_config(auto_approve=False)) as keap,
        httpx.AsyncClient() as client,
    ):
        config = keap.sandbox.config
        params = {
            "client_id": config.client_id,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "state": "st8",
        }
        page = await client.get(keap.authorize_url, params=params)
        assert page.status_code == 200
        assert "Allow" in page.text and "Deny" in page.text
        form = {"client_id": config.client_id, "redirect_uri": REDIRECT_URI, "state": "st8"}
        denied = await client.post(keap.authorize_url, data={**form, "decision": "deny"})
        assert denied.status_code == 302
        assert _query(denied.headers["location"]) == {"error": "access_denied", "state": "st8"}
        allowed = await client.post(keap.authorize_url, data={**form, "decision": "allow"})
        assert set(_query(allowed.headers["location"])) == {"code", "state"}


async def test_unknown_client_gets_a_400_page(keap: RunningSandbox) -> None:
    async with httpx.AsyncClient() as client:
        page = await client.get(
            keap.authorize_url,
            params={"client_id": "nobody", "redirect_uri": REDIRECT_URI, "response_type": "code"},
        )
    assert page.status_code == 400
    assert "text/html" in page.headers["content-type"]


async def test_refresh_rotates_and_the_old_refresh_token_is_dead(keap: RunningSandbox) -> None:
    async with httpx.AsyncClient() as client:
        first = await authorize(keap, client)
        second = await _refresh(client, keap, first["refresh_token"])
        assert second.status_code == 200
        pair = second.json()
        assert pair["refresh_token"] != first["refresh_token"]
        assert pair["access_token"] != first["access_token"]

        reused = await _refresh(client, keap, first["refresh_token"])
        assert reused.status_code == 400
        assert reused.json() == INVALID_REFRESH
        unknown = await _refresh(client, keap, "not-a-token")
        assert unknown.json() == INVALID_REFRESH

        third = await _refresh(client, keap, pair["refresh_token"])
        assert third.status_code == 200
        assert (await _contacts(client, keap, third.json()["access_token"])).status_code == 200
    counts = keap.sandbox.grant_counts
    assert (counts["authorization_code"], counts["refresh_token"], counts["invalid_grant"]) == (
        1,
        2,
        2,
    )


async def test_two_racing_refreshes_leave_exactly_one_winner(keap: RunningSandbox) -> None:
    async with httpx.AsyncClient() as client:
        tokens = await authorize(keap, client)
        answers = await asyncio.gather(
            *(_refresh(client, keap, tokens["refresh_token"]) for _ in range(2))
        )
    assert sorted(a.status_code for a in answers) == [200, 400]
    assert keap.sandbox.grant_counts["refresh_token"] == 1
    assert keap.sandbox.grant_counts["invalid_grant"] == 1


async def test_refresh_needs_basic_client_auth(keap: RunningSandbox) -> None:
    config = keap.sandbox.config
    async with httpx.AsyncClient() as client:
        tokens = await authorize(keap, client)
        form_only = await client.post(
            keap.token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": config.client_id,
                "client_secret": config.client_secret,
            },
        )
        assert form_only.status_code == 401 and form_only.json()["error"] == "invalid_client"
        wrong = await client.post(
            keap.token_url,
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=(config.client_id, "wrong-secret"),
        )
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        # The refresh token was not spent by the refused attempts.
        assert (await _refresh(client, keap, tokens["refresh_token"])).status_code == 200
    assert keap.sandbox.grant_counts["invalid_client"] == 2


async def test_expired_access_token_is_refused_until_refreshed(keap: RunningSandbox) -> None:
    async with httpx.AsyncClient() as client:
        tokens = await authorize(keap, client)
        expired = await client.post(f"{keap.url}/_sandbox/expire-tokens", json={})
        assert expired.json()["expired"] >= 1
        refused = await _contacts(client, keap, tokens["access_token"])
        assert refused.status_code == 401
        assert refused.json() == {
            "fault": {
                "faultstring": "Access Token expired",
                "detail": {"errorcode": "keymanagement.service.access_token_expired"},
            }
        }
        fresh = (await _refresh(client, keap, tokens["refresh_token"])).json()
        assert (await _contacts(client, keap, fresh["access_token"])).status_code == 200


async def test_revoking_a_grant_kills_its_access_and_refresh_tokens(keap: RunningSandbox) -> None:
    async with httpx.AsyncClient() as client:
        tokens = await authorize(keap, client)
        other = await authorize(keap, client)
        revoked = await client.post(
            f"{keap.url}/_sandbox/revoke", json={"refresh_token": tokens["refresh_token"]}
        )
        assert revoked.json() == {"revoked": 1}
        refused = await _contacts(client, keap, tokens["access_token"])
        assert refused.status_code == 401
        assert refused.json()["fault"]["faultstring"] == "Invalid Access Token"
        assert (await _refresh(client, keap, tokens["refresh_token"])).json() == INVALID_REFRESH
        # Another grant is untouched.
        assert (await _contacts(client, keap, other["access_token"])).status_code == 200


async def test_refresh_tokens_expire(keap: RunningSandbox) -> None:
    async with httpx.AsyncClient() as client:
        tokens = await authorize(keap, client)
        await client.post(f"{keap.url}/_sandbox/expire-tokens", json={"refresh": True})
        assert (await _refresh(client, keap, tokens["refresh_token"])).json() == INVALID_REFRESH


async def test_api_keys_and_missing_credentials(keap: RunningSandbox) -> None:
    url = f"{keap.api_base}/v2/tags"
    async with httpx.AsyncClient() as client:
        assert (
            await client.get(url, headers={"X-Keap-API-Key": "sandbox-api-key"})
        ).status_code == 200
        bad_key = await client.get(url, headers={"X-Keap-API-Key": "nope"})
        assert bad_key.status_code == 401
        nothing = await client.get(url)
        assert nothing.status_code == 401
        assert (
            nothing.json()["fault"]["detail"]["errorcode"]
            == "keymanagement.service.invalid_access_token"
        )


async def test_token_endpoint_wants_a_form(keap: RunningSandbox) -> None:
    async with httpx.AsyncClient() as client:
        as_json = await client.post(
            keap.token_url, json={"grant_type": "refresh_token", "refresh_token": "x"}
        )
        assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
        odd = await client.post(keap.token_url, data={"grant_type": "password"})
        assert odd.status_code == 400 and odd.json()["error"] == "unsupported_grant_type"
