"""Files of the local state folder: readable by this user only (they hold tokens and secrets)."""

from __future__ import annotations

import os
from pathlib import Path

SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """`path` as a folder only this user can enter."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def passage_dir(path: Path) -> Path:
    """`path` as a folder others may pass through but not list: the state folder, whose
    embedded Postgres runs as another user (root may not run it) and keeps its data in
    a folder of its own below (0700, that user's); the files beside it are 0600."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o711)
    return path


def private_file(path: Path) -> Path:
    """`path` as an existing file only this user can read; a SQLite database's WAL and
    shared-memory files follow (SQLite creates them with the database file's mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for each in (path, *(path.with_name(path.name + s) for s in SQLITE_COMPANIONS)):
        if each.exists():
            each.chmod(0o600)
    return path


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically, readable by this user only from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    partial.chmod(0o600)
    os.replace(partial, path)
