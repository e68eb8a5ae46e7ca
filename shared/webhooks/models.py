"""Keap REST hook delivery payloads (`{"event_key", "object_type", "object_keys"}`)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared import timefmt

MAX_OBJECT_KEYS = 1000  # Keap's documented maximum per delivery
MAX_KEAP_ID = 2**63 - 1
EVENT_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9_]*){1,3}$")


def keap_id(value: Any) -> int:
    """A Keap record id: a positive integer, sent as a number or a string of digits."""
    if isinstance(value, bool):
        raise ValueError("must be a Keap id (a positive integer)")
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 19:
        value = int(value.strip())
    if not isinstance(value, int) or not 0 < value <= MAX_KEAP_ID:
        raise ValueError("must be a Keap id (a positive integer)")
    return value


class ObjectKey(BaseModel):
    """One changed object. Extra fields (some event types carry more) are kept."""

    model_config = ConfigDict(extra="allow")

    id: int
    apiUrl: str | None = Field(None, max_length=2048)  # Keap's field name
    timestamp: str = Field(max_length=64)

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> int:
        return keap_id(value)

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: str) -> str:
        # One spelling, so that a delivery Keap repeats is recognised however it is spelt.
        return timefmt.normalize(value)


class HookDelivery(BaseModel):
    """One delivery: up to 1000 objects of one event key."""

    event_key: str = Field(max_length=100)
    object_type: str = Field(min_length=1, max_length=100)
    object_keys: list[ObjectKey] = Field(min_length=1, max_length=MAX_OBJECT_KEYS)

    @field_validator("event_key")
    @classmethod
    def _event_key(cls, value: str) -> str:
        if not EVENT_KEY.match(value):
            raise ValueError("must look like noun.verb, e.g. contact.edit")
        return value
