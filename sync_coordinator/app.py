"""The sync-coordinator worker's HTTP app: OAuth and health."""

from shared.web.app import create_worker_app

app = create_worker_app("sync-coordinator")
