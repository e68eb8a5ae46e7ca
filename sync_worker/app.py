"""The sync-worker's HTTP app: on-demand syncs, status and health."""

from shared.web.app import create_worker_app

app = create_worker_app("sync-worker")
