"""The deploy-time memory snapshot: each worker snapshots and then serves.

When a Python Worker is uploaded, Cloudflare runs its top level once and keeps a memory
snapshot of it (the flag `python_dedicated_snapshot`, which the deployed compatibility date
implies). Anything that draws entropy or does I/O at import time breaks that step, and with it
the deploy. workerd's snapshot mode is the same mechanism: each worker runs once in it, with the
flags the deployed configs imply, and must then answer over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.workerd.cluster import (
    SNAPSHOT_START_TIMEOUT_S,
    WORKERS,
    WorkerdCluster,
    workerd_binary,
)

MIN_SNAPSHOT_BYTES = 20 * 1024 * 1024  # Python's memory with FastAPI and pydantic imported


@pytest.fixture(scope="module")
def snapshotted(
    offline_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, WorkerdCluster]]:
    """Each worker alone under workerd's snapshot mode (one snapshot file per worker)."""
    folder = tmp_path_factory.mktemp("snapshot")
    workerd = workerd_binary()
    clusters = {
        package: WorkerdCluster(
            folder / package, offline_bundle, workerd, None, {}, packages=(package,), snapshot=True
        )
        for package in WORKERS
    }
    try:
        for package, cluster in clusters.items():
            cluster.build(folder / package / "build")
        for package, cluster in clusters.items():
            cluster.start(folder / package / "build", SNAPSHOT_START_TIMEOUT_S)
        yield clusters
    finally:
        for cluster in clusters.values():
            cluster.stop()


@pytest.mark.parametrize("package", WORKERS)
def test_each_worker_snapshots_and_then_serves(
    snapshotted: dict[str, WorkerdCluster], package: str
) -> None:
    cluster = snapshotted[package]
    snapshots = list(cluster.snapshot_dir.glob("*.bin"))
    assert len(snapshots) == 1, (snapshots, cluster.workers[package].log_text()[-3000:])
    assert snapshots[0].stat().st_size > MIN_SNAPSHOT_BYTES
    log = cluster.workers[package].log_text()
    assert "Entropy call failed" not in log

    response = httpx.get(f"{cluster.url(package)}/health", timeout=60)
    # Alone, without the coordinator or a database, health is degraded: but it answers.
    assert response.status_code in (200, 503), response.text
    assert response.json()["status"] in ("healthy", "degraded")
