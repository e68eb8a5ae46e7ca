"""The stand-in wrangler against the real one, wherever the real one answers offline.

Most wrangler commands need Cloudflare; these do not: `--version`, `whoami --json` without a
login, the connection-string checks of `hyperdrive create` (made before any API call) and
`deploy --dry-run`. Where they agree, the formats deploy.sh parses are the real ones.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.deploy.conftest import Standin

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def run(
    command: list[str], tmp_path: Path, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"  # no wrangler login, no config
    home.mkdir(exist_ok=True)
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLOUDFLARE_", "WRANGLER", "STANDIN_"))
    }
    clean.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "WRANGLER_SEND_METRICS": "false",
            "NO_COLOR": "1",
            "FORCE_COLOR": "0",
            "CI": "true",
            **env,
        }
    )
    return subprocess.run(
        command,
        cwd=cwd or tmp_path,
        env=clean,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def both(
    wrangler: Path, standin: Standin, tmp_path: Path, *args: str, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    real = run([str(wrangler), *args], tmp_path, cwd)
    fake = run([str(standin.executable), *args], tmp_path, cwd, **standin.env())
    return real, fake


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    text = ANSI.sub("", result.stderr + result.stdout)
    return next(line.strip() for line in text.splitlines() if "[ERROR]" in line)


def test_version(wrangler: Path, standin: Standin, tmp_path: Path) -> None:
    real, fake = both(wrangler, standin, tmp_path, "--version")
    assert real.returncode == fake.returncode == 0
    assert real.stdout.split() == fake.stdout.split() == ["4.86.0"]


def test_whoami_json_without_a_login(wrangler: Path, standin: Standin, tmp_path: Path) -> None:
    standin.update_state(logged_in=False)
    real, fake = both(wrangler, standin, tmp_path, "whoami", "--json")
    assert (real.returncode, real.stdout.strip()) == (1, '{"loggedIn":false}')
    assert (fake.returncode, fake.stdout.strip()) == (1, '{"loggedIn":false}')


@pytest.mark.parametrize(
    "connection_string",
    [
        "postgresql://user@db.example.com:5432/postgres",  # no password
        "postgresql://:pw@db.example.com:5432/postgres",  # no user
        "mongodb://user:pw@db.example.com:27017/x",
    ],
)
def test_hyperdrive_create_checks_the_connection_string_the_same_way(
    wrangler: Path, standin: Standin, tmp_path: Path, connection_string: str
) -> None:
    args = ("hyperdrive", "create", "x", "--connection-string", connection_string)
    real, fake = both(wrangler, standin, tmp_path, *args)
    assert real.returncode == fake.returncode == 1
    assert error_line(real) == error_line(fake)


def bindings(result: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    """(binding, resource) rows of `Your Worker has access to the following bindings:`;
    variables by name only (wrangler shortens long values)."""
    rows = []
    for line in ANSI.sub("", result.stdout).splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) == 2 and parts[0].startswith("env."):
            binding, resource = parts
            if resource == "Environment Variable":
                binding = binding.split(" ", 1)[0]
            rows.append((binding, resource))
    return rows


@pytest.mark.parametrize("package", ["sync_coordinator", "sync_worker", "webhook_handler"])
def test_deploy_dry_run_lists_the_same_bindings(
    wrangler: Path, standin: Standin, tmp_path: Path, package: str
) -> None:
    out = tmp_path / "bundles"
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bundle.py"), "--no-vendor", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    args = ["deploy", "--dry-run", "--config", str(out / package / "wrangler.toml")]
    args += ["--var", "KEAP_REDIRECT_URI:https://c.example.workers.dev/oauth/callback"]
    real, fake = both(wrangler, standin, tmp_path, *args, "--outdir", str(tmp_path / "o"))
    assert real.returncode == fake.returncode == 0, real.stderr
    assert "--dry-run: exiting now." in real.stdout and "--dry-run: exiting now." in fake.stdout
    assert bindings(real) and bindings(real) == bindings(fake)
    assert 'env.KEAP_REDIRECT_URI ("(hidden)")' in real.stdout + fake.stdout
