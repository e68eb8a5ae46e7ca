"""The sync-worker's Workers entrypoint: HTTP requests and the cron trigger.

The bundle's main module (tools/bundle.py copies it to src/entry.py). It and
`shared.platform.cloudflare` are the only modules that meet the Workers runtime.
"""

from workers import WorkerEntrypoint, asgi

from shared.platform.cloudflare import scheduled_cron, worker_env_from_js
from sync_worker.app import app
from sync_worker.jobs import on_scheduled

__all__ = ["Default"]


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await asgi.fetch(app, request, worker_env_from_js(self.env))

    async def scheduled(self, controller, env=None, ctx=None):
        # The runtime may pass only the controller (env and ctx are on self).
        await on_scheduled(worker_env_from_js(self.env), scheduled_cron(controller))
