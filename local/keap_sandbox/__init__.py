"""A local stand-in for Keap's API: OAuth, REST v2 data, v1 REST hooks, limits and faults.

from local.keap_sandbox import SandboxConfig, create_sandbox_app, Sandbox, serve_sandbox

async with serve_sandbox(SandboxConfig(contacts=10_000)) as keap:
    keap.api_base   # http://127.0.0.1:PORT/crm/rest  (v2 at /v2/..., hooks at /v1/hooks)
    keap.token_url  # http://127.0.0.1:PORT/token
    keap.sandbox.make_changes(n_edits=10)
"""

from .app import create_sandbox_app
from .config import SandboxConfig
from .sandbox import Sandbox
from .server import RunningSandbox, serve_sandbox

__all__ = ["RunningSandbox", "Sandbox", "SandboxConfig", "create_sandbox_app", "serve_sandbox"]
