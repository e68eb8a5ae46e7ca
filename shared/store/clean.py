"""Text Postgres cannot hold, made storable before a page reaches it.

Keap hands out whatever was typed into a form, and JSON can carry it: a NUL character
(`\\u0000`) or half of a UTF-16 surrogate pair (`\\ud800`). Postgres refuses both in
`jsonb` and in `text` (SQLSTATE 22P05 and 22P02), so one such record would fail its
whole page. Cleaning happens on the page's JSON text, before Postgres parses it, so
`raw` and the typed columns extracted from it get the same cleaned value: a NUL is
removed, a lone surrogate becomes U+FFFD (the replacement character).

Clean pages (nearly all of them) cost one search for `\\u` in the text.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

# An escape Postgres refuses: NUL, or any surrogate (a valid pair is rare in Keap's
# output, which sends UTF-8; a page holding one is parsed and found clean).
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_SUSPECT_ESCAPE_BYTES = re.compile(_SUSPECT_ESCAPE.pattern.encode())
# What the suspect escapes become once parsed: NUL and unpaired surrogates.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_utf8(data: bytes, chunk: int = 1 << 16) -> bool:
    """Whether `data` is UTF-8, checked a chunk at a time (no copy of the whole as text)."""
    if data.isascii():
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for at in range(0, len(data), chunk):
            decoder.decode(view[at : at + chunk])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def needs_cleaning(text: str | bytes) -> bool:
    """Whether the JSON text (or its bytes) may hold a string Postgres refuses, or the
    bytes are not UTF-8 (cheap on clean text)."""
    if isinstance(text, bytes):
        if b"\x00" in text or not is_utf8(text):
            return True
        return b"\\u" in text and _SUSPECT_ESCAPE_BYTES.search(text) is not None
    if "\x00" in text:
        return True
    return "\\u" in text and _SUSPECT_ESCAPE.search(text) is not None


def _fixed(match: re.Match[str]) -> str:
    return "" if match.group() == "\x00" else "\ufffd"


def _clean(value: Any) -> tuple[Any, bool]:
    """The value with every string (and key) made storable; whether anything changed."""
    if isinstance(value, str):
        if _UNSTORABLE.search(value) is None:
            return value, False
        return _UNSTORABLE.sub(_fixed, value), True
    if isinstance(value, list):
        changed = False
        for n, item in enumerate(value):
            value[n], item_changed = _clean(item)
            changed |= item_changed
        return value, changed
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        changed = False
        for key, item in value.items():
            new_key, key_changed = _clean(key)
            out[new_key], item_changed = _clean(item)
            changed |= key_changed or item_changed
        return (out, True) if changed else (value, False)
    return value, False


def clean_page(text: str | bytes, items_key: str | None) -> tuple[str | bytes, int]:
    """(storable JSON text, number of records that needed cleaning).

    `text` (JSON text, or its UTF-8 bytes) holds the records under `items_key`, or is the
    list itself (None). Text that needs nothing comes back as it was, bytes included;
    the number counts records, not strings. Bytes that are not UTF-8 become U+FFFD, as
    decoding the response to text would have made them.
    """
    if not needs_cleaning(text):
        return text, 0
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        # strict=False: a raw control character inside a string is read, then removed.
        body = json.loads(text, strict=False)
    except ValueError:
        return text, 0  # not JSON: Postgres says so, with its own SQLSTATE
    records = body.get(items_key) if isinstance(body, dict) and items_key else body
    cleaned = 0
    if isinstance(records, list):
        for n, record in enumerate(records):
            records[n], changed = _clean(record)
            cleaned += changed
    else:
        body, changed = _clean(body)
        return (json.dumps(body, ensure_ascii=False), 1) if changed else (text, 0)
    changed = cleaned > 0
    if isinstance(body, dict):  # anything beside the records (a page token, say)
        rest, rest_changed = _clean({k: v for k, v in body.items() if k != items_key})
        if rest_changed:
            body, changed = {**rest, str(items_key): records}, True
    if not changed:
        return text, 0
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")), cleaned
