"""The webhook-handler's HTTP app: Keap REST hook deliveries and health."""

from shared.web.app import create_worker_app

app = create_worker_app("webhook-handler")
