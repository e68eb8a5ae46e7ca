"""The sandbox's state in a folder, so that a restart forgets nothing Keap would keep.

Each part (grants and tokens, record changes, hook subscriptions with their undelivered
events) is one JSON file, written whole to a temporary file (mode 0600: they hold token
hashes and hook secrets), synced, and renamed over the old one, so a crash leaves the
previous or the next version, never half of one. A part is written when it changed:
before the answer to the request that changed it leaves (`FlushBeforeAnswer`), and within
a moment for changes made in-process or in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("keap_sandbox.persistence")

FLUSH_EVERY_S = 0.2  # how soon in-process and background changes reach the disk


@dataclass
class Part:
    """One file's worth of state. `version`: a cheap marker that changes whenever the
    snapshot would (None: compare the snapshots themselves, for small parts)."""

    name: str
    snapshot: Callable[[], Any]
    version: Callable[[], Hashable] | None = None


class StateFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._parts: list[Part] = []
        self._written_text: dict[str, str] = {}
        self._written_version: dict[str, Hashable] = {}
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def read(self, name: str) -> Any:
        """A part as last written (None if never); a file that cannot be read is set
        aside as `<name>.json.unreadable` and the part starts empty."""
        path = self.path(name)
        try:
            text = path.read_text()
            data = json.loads(text)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            aside = path.with_name(path.name + ".unreadable")
            log.warning("%s cannot be read (%s); set aside as %s", path, exc, aside.name)
            with contextlib.suppress(OSError):
                path.replace(aside)
            return None
        self._written_text[name] = text
        return data

    def add(self, part: Part) -> None:
        """Start keeping `part`. What it holds counts as written if it was read back from
        its file; otherwise the next flush writes it."""
        self._parts.append(part)
        if part.version is not None and part.name in self._written_text:
            self._written_version[part.name] = part.version()

    def set_aside(self, suffix: str) -> None:
        """Move every part's file out of the way (kept as `<name>.json<suffix>`)."""
        for name in list(self._written_text):
            with contextlib.suppress(OSError):
                self.path(name).replace(self.path(name).with_name(f"{name}.json{suffix}"))
            del self._written_text[name]

    def flush(self) -> None:
        """Write every part that changed since it was last written."""
        for part in self._parts:
            version = part.version() if part.version is not None else None
            if part.version is not None and self._written_version.get(part.name) == version:
                continue
            text = json.dumps(part.snapshot(), separators=(",", ":"))
            if text != self._written_text.get(part.name):
                _write_atomically(self.path(part.name), text)
                self._written_text[part.name] = text
            if part.version is not None:
                self._written_version[part.name] = version

    async def keep_flushing(self) -> None:
        """Background changes (hook deliveries, a change stream) reach the disk soon."""
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            try:
                self.flush()
            except OSError as exc:  # a full disk: say so, keep serving, try again
                log.error("could not write the sandbox state: %s", exc)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself
    finally:
        os.close(folder)


class FlushBeforeAnswer:
    """ASGI middleware: what a request changed is on disk before its answer leaves, as a
    real service commits before it replies (a refreshed token pair above all)."""

    def __init__(self, app: ASGIApp, flush: Callable[[], None]) -> None:
        self.app = app
        self.flush = flush

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_after_flush(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.flush()
            await send(message)

        await self.app(scope, receive, send_after_flush)
