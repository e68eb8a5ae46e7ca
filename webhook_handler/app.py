"""The webhook-handler's HTTP app: Keap REST hook deliveries and health.

`POST /webhook?account=<name>&token=<token>` (the URL `shared.webhooks.auth.hook_url`
builds and the coordinator registers with Keap) answers Keap's verification handshake
and stores deliveries in the account's coordinator queue before answering 200.
"""

from fastapi import Request
from fastapi.responses import Response

from shared.platform.env import Env
from shared.web.app import create_worker_app
from shared.webhooks.receiver import receive

app = create_worker_app("webhook-handler")


@app.post("/webhook")
async def webhook(request: Request, env: Env) -> Response:
    """One Keap hook request: a verification handshake or a delivery."""
    return await receive(request, env)
