"""The plain HTML pages a person sees at the end of the OAuth dance."""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}
h1{{font-size:1.4rem}} .ok{{color:#17663a}} .bad{{color:#a4262c}}</style></head>
<body><h1 class="{css}">{title}</h1><p>{message}</p></body></html>"""


def page(title: str, message: str, ok: bool) -> str:
    return _PAGE.format(title=escape(title), message=escape(message), css="ok" if ok else "bad")


OUTCOMES: dict[str, tuple[str, str]] = {
    "denied": ("Access was not granted", "Keap did not grant access. Nothing was changed."),
    "expired_state": (
        "This sign-in link has expired",
        "Start again from /oauth/initiate; sign-in links last 10 minutes.",
    ),
    "reused_state": (
        "This sign-in link was already used",
        "Each sign-in link works once. Start again from /oauth/initiate.",
    ),
    "invalid_state": (
        "This sign-in link is not valid",
        "It was not issued by this deployment. Start again from /oauth/initiate.",
    ),
    "keap_error": (
        "Keap refused the connection",
        "Keap did not accept the authorization code. Start again from /oauth/initiate.",
    ),
}
