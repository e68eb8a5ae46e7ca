"""How fast the Keap sandbox serves contact list pages over real HTTP.

    .venv/bin/python bench/sandbox_pages.py [--contacts 100000] [--seconds 10]

Starts a sandbox (limits off) on a free port and reads `/v2/contacts` pages of 1000 for
the given time, half with the default fields and half with every field a full sync asks
for (custom fields included). Each pass over the contacts starts with one edit, so no
page comes from the sandbox's page cache. The client finds `next_page_token` without
decoding the whole body (and fully decodes every 10th page to check it), so the figure
is the sandbox's serving rate rather than the client's JSON decoding.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time

import httpx

from local.keap_sandbox import SandboxConfig, serve_sandbox

ALL_FIELDS = (
    "id,given_name,family_name,middle_name,prefix,suffix,preferred_name,email_addresses,"
    "phone_numbers,fax_numbers,addresses,company,job_title,owner_id,leadsource_id,contact_type,"
    "source_type,score_value,time_zone,preferred_locale,spouse_name,links,utm_parameters,"
    "created_by,last_updated_by,tag_ids,birth_date,anniversary_date,website,origin,"
    "social_accounts,custom_fields,create_time,update_time"
)
_TOKEN = re.compile(rb'"next_page_token":"([^"]*)"\}$')


async def measure(
    client: httpx.AsyncClient, base: str, seconds: float, fields: str | None, sandbox
) -> tuple[int, int, float]:  # type: ignore[no-untyped-def]
    """(pages, records, elapsed seconds) read in about `seconds`."""
    pages = records = 0
    token: str | None = None
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        if token is None:
            sandbox.make_changes(n_edits=1)  # a new data version: nothing cached
        params: dict[str, str | int] = {"page_size": 1000}
        if fields:
            params["fields"] = fields
        if token:
            params["page_token"] = token
        response = await client.get(f"{base}/v2/contacts", params=params)
        response.raise_for_status()
        match = _TOKEN.search(response.content)
        if match is None or pages % 10 == 0:
            count = len(json.loads(response.content)["contacts"])
        else:
            count = 1000
        token = match.group(1).decode() if match else None
        pages += 1
        records += count
    return pages, records, time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    config = SandboxConfig(contacts=args.contacts, limits_enabled=False)
    async with serve_sandbox(config) as keap:
        headers = {"X-Keap-API-Key": config.api_keys[0]}
        async with httpx.AsyncClient(headers=headers, timeout=60) as client:
            for label, fields in (
                ("default fields", None),
                ("all fields incl. custom_fields", ALL_FIELDS),
            ):
                pages, records, elapsed = await measure(
                    client, keap.api_base, args.seconds / 2, fields, keap.sandbox
                )
                print(
                    f"sandbox: {pages / elapsed:.1f} pages/s ({records / elapsed:.0f} contacts/s) "
                    f"over {pages} pages [{label}]"
                )


if __name__ == "__main__":
    asyncio.run(main())
