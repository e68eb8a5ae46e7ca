"""The webhook-handler's Workers entrypoint: HTTP requests.

The bundle's main module (tools/bundle.py copies it to src/entry.py). It and
`shared.platform.cloudflare` are the only modules that meet the Workers runtime.
"""

from workers import WorkerEntrypoint, asgi

from shared.platform.cloudflare import worker_env_from_js
from webhook_handler.app import app

__all__ = ["Default"]


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await asgi.fetch(app, request, worker_env_from_js(self.env))
