"""Run the Keap sandbox on its own.

    python -m local.keap_sandbox --port 8790 --contacts 100000 --seed 7
    python -m local.keap_sandbox --no-limits --set error_rate=0.05 --set hook_time_scale=0.01
    python -m local.keap_sandbox --tls-cert cert.pem --tls-key key.pem   # HTTPS, as Keap

Any SandboxConfig field can be given with --set NAME=VALUE; the shortcuts below cover
the usual ones. Settings can also be changed while it runs: PATCH /_sandbox/config.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from local.serve import AppServer

from .app import create_sandbox_app
from .config import SandboxConfig
from .generator import KINDS


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.keap_sandbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--seed", type=int)
    for kind in KINDS:
        parser.add_argument(f"--{kind}", type=int, metavar="N", help=f"number of {kind}")
    parser.add_argument("--latency-ms", type=float)
    parser.add_argument("--error-rate", type=float)
    parser.add_argument("--drop-rate", type=float)
    parser.add_argument("--hook-time-scale", type=float)
    parser.add_argument("--no-limits", action="store_true", help="count requests but never refuse")
    parser.add_argument(
        "--consent", action="store_true", help="show the consent page (no auto-approve)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="any config field"
    )
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    args = parser.parse_args()
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    return args


def _config(args: argparse.Namespace) -> SandboxConfig:
    values: dict[str, Any] = {}
    for name in ("seed", *KINDS, "latency_ms", "error_rate", "drop_rate", "hook_time_scale"):
        value = getattr(args, name)
        if value is not None:
            values[name] = value
    if args.no_limits:
        values["limits_enabled"] = False
    if args.consent:
        values["auto_approve"] = False
    for item in args.set:
        name, _, raw = item.partition("=")
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw  # a plain string
    return SandboxConfig(**values)


async def _run(config: SandboxConfig, port: int, tls: tuple[Path, Path] | None) -> None:
    app = create_sandbox_app(config)
    server = AppServer(app, port, "127.0.0.1", "keap-sandbox", tls=tls)
    await server.start()
    app.state.sandbox.start()
    url = server.url
    print(f"Keap sandbox for {config.tenant} ({config.contacts} contacts, seed {config.seed})")
    print(f"  KEAP_API_BASE={url}/crm/rest")
    print(f"  KEAP_TOKEN_URL={url}/token")
    print(f"  KEAP_AUTHORIZE_URL={url}/app/oauth/authorize")
    print(f"  client {config.client_id} / {config.client_secret}; API key {config.api_keys[0]}")
    print(f"  controls: {url}/_sandbox/config, /_sandbox/stats (Ctrl-C to stop)")
    try:
        await asyncio.Event().wait()
    finally:
        await app.state.sandbox.aclose()
        await server.stop()


def main() -> None:
    args = _parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
        asyncio.run(_run(_config(args), args.port, tls))


if __name__ == "__main__":
    main()
