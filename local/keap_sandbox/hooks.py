"""REST hook subscriptions: the X-Hook-Secret handshake, batched deliveries and retries.

Timing follows Keap's hook policy, every delay multiplied by `hook_time_scale`: the
first attempt 30-60 s after the first change of a batch (5-10 min for
contactGroup.applied/delete), retries 30-60 s, 5 min and 30 min after a failed attempt,
Inactive after the fourth failure or at once on a 410. Deliveries run as asyncio tasks
in the loop that serves the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from .config import SandboxConfig
from .timefmt import iso

EVENT_KEYS = [
    f"{noun}.{verb}"
    for noun, verbs in [
        ("appointment", "add edit delete"),
        ("company", "add edit delete"),
        ("contact", "add edit delete redact"),
        ("contactGroup", "add edit delete applied removed"),
        ("invoice", "add edit delete"),
        ("invoice.payment", "add edit delete"),
        ("leadsource", "add edit delete"),
        ("note", "add edit delete"),
        ("opportunity", "add edit delete stage_move"),
        ("order", "add edit delete"),
        ("product", "add edit delete"),
        ("subscription", "add edit delete"),
        ("task", "add edit delete complete incomplete"),
        ("user", "add edit"),
    ]
    for verb in verbs.split()
]
MAX_BATCH = 1000
# Waits after a failed attempt 1, 2, 3 (seconds, before scaling); the first is 30-60 s.
RETRY_WAITS = ((30.0, 60.0), (300.0, 300.0), (1800.0, 1800.0))
_SLOW_KEYS = {"contactGroup.applied", "contactGroup.delete"}
# Where each hook noun's records live in v2, for object_keys[].apiUrl (notes have no
# top-level v2 URL, so their keys carry none).
_API_PATHS = {
    "contactGroup": "tags",
    "contact": "contacts",
    "company": "companies",
    "opportunity": "opportunities",
    "order": "orders",
    "task": "tasks",
    "product": "products",
    "subscription": "subscriptions",
}


@dataclass
class Hook:
    key: str
    event_key: str
    hook_url: str
    status: str = "Unverified"
    secret: str | None = None
    generation: int = 0  # bumped whenever the hook stops; in-flight retries then give up

    def public(self) -> dict[str, str]:
        return {
            "key": self.key,
            "eventKey": self.event_key,
            "hookUrl": self.hook_url,
            "status": self.status,
        }


@dataclass
class Attempt:
    """One POST of one delivery, for tests to check the schedule."""

    delivery: int
    hook_key: str
    event_key: str
    number: int  # 1..4
    started: float  # loop time (monotonic seconds)
    finished: float = 0.0
    wall_started: float = 0.0  # epoch seconds
    status: int | None = None
    error: str | None = None
    object_count: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400

    def as_dict(self) -> dict[str, Any]:
        return {
            "delivery": self.delivery,
            "hook_key": self.hook_key,
            "event_key": self.event_key,
            "attempt": self.number,
            "started": self.started,
            "finished": self.finished,
            "wall_started": self.wall_started,
            "status": self.status,
            "error": self.error,
            "objects": self.object_count,
        }


@dataclass
class _Batch:
    first_change: float  # loop time of the first change in the batch
    keys: dict[int, int] = field(default_factory=dict)  # object id -> change time (ms)
    object_type: str = ""


class HookManager:
    """Subscriptions and their deliveries."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.hooks: dict[str, Hook] = {}
        self.attempts: list[Attempt] = []
        self.change_times: dict[
            int, float
        ] = {}  # delivery -> loop time of its batch's first change
        self.api_base = "http://127.0.0.1/crm/rest"
        self._next_key = 1
        self._next_delivery = 1
        self._pending: dict[str, _Batch] = {}
        # Deliveries under way (retries included): delivery -> (event key, object type, keys)
        self._outstanding: dict[int, tuple[str, str, dict[int, int]]] = {}
        self._restored: list[tuple[str, str, dict[int, int]]] = []  # to requeue at start
        self._tasks: set[asyncio.Task[None]] = set()
        self._rng = random.Random(config.seed ^ 0x5EED)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    # -- subscriptions -----------------------------------------------------------------

    def by_event(self, event_key: str) -> Hook | None:
        return next((h for h in self.hooks.values() if h.event_key == event_key), None)

    async def create(self, event_key: str, hook_url: str) -> Hook:
        hook = Hook(key=str(self._next_key), event_key=event_key, hook_url=hook_url)
        self._next_key += 1
        self.hooks[hook.key] = hook
        await self.verify(hook)
        return hook

    async def replace(self, hook: Hook, event_key: str, hook_url: str) -> Hook:
        hook.event_key, hook.hook_url = event_key, hook_url
        self._stop(hook, "Unverified")
        await self.verify(hook)
        return hook

    def delete(self, hook: Hook) -> None:
        self._stop(hook, "Inactive")
        self.hooks.pop(hook.key, None)

    async def verify(self, hook: Hook) -> Hook:
        """Immediate confirmation: POST an X-Hook-Secret and expect it echoed by a 2xx."""
        self._bind_loop()
        hook.secret = secrets.token_hex(32)
        try:
            response = await self.client().post(
                hook.hook_url,
                headers={"X-Hook-Secret": hook.secret},
                content=b"",
                timeout=self._timeout(),
            )
            echoed = response.headers.get("X-Hook-Secret") == hook.secret
            ok = 200 <= response.status_code < 300 and echoed
        except httpx.HTTPError:
            ok = False
        if ok:
            hook.status = "Verified"
        elif hook.status != "Inactive":
            hook.status = "Unverified"
        return hook

    def delayed_verify(self, hook: Hook, secret: str | None) -> bool:
        """Delayed confirmation: the receiver sends back the secret it was given."""
        if secret and hook.secret and secrets.compare_digest(secret, hook.secret):
            hook.status = "Verified"
            return True
        return False

    def _stop(self, hook: Hook, status: str) -> None:
        hook.status = status
        hook.generation += 1
        self._pending.pop(hook.event_key, None)

    # -- events and deliveries ---------------------------------------------------------

    def on_event(self, event_key: str, object_type: str, record_id: int, at_ms: int) -> None:
        """Listener for record changes (called from sync code, possibly off-loop)."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self._loop is None and running is not None and self.hooks:
            self._loop = running  # subscriptions kept from before a restart
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # no hook was ever created in a running loop: nobody to deliver to
        if running is loop:
            self._add(event_key, object_type, record_id, at_ms)
        else:
            loop.call_soon_threadsafe(self._add, event_key, object_type, record_id, at_ms)

    def _add(self, event_key: str, object_type: str, record_id: int, at_ms: int) -> None:
        hook = self.by_event(event_key)
        if hook is None or hook.status != "Verified":
            return  # Keap sends nothing for an unverified or inactive subscription
        loop = asyncio.get_running_loop()
        batch = self._pending.get(event_key)
        if batch is None:
            batch = self._pending[event_key] = _Batch(
                first_change=loop.time(), object_type=object_type
            )
            delay = (
                self.config.hook_group_delay_s
                if event_key in _SLOW_KEYS
                else self.config.hook_delay_s
            )
            wait = self._rng.uniform(delay, 2 * delay) * self.config.hook_time_scale
            self._spawn(self._flush_later(hook, event_key, batch, wait))
        batch.keys[record_id] = at_ms

    async def _flush_later(self, hook: Hook, event_key: str, batch: _Batch, wait: float) -> None:
        await asyncio.sleep(wait)
        if self._pending.get(event_key) is not batch:
            return  # dropped: the hook stopped meanwhile
        del self._pending[event_key]
        items = list(batch.keys.items())
        for start in range(0, len(items), MAX_BATCH):
            delivery = self._next_delivery
            self._next_delivery += 1
            self.change_times[delivery] = batch.first_change
            keys = dict(items[start : start + MAX_BATCH])
            self._outstanding[delivery] = (event_key, batch.object_type, keys)
            payload = {
                "event_key": event_key,
                "object_type": batch.object_type,
                "object_keys": [
                    self._object_key(event_key, i, ms) for i, ms in items[start : start + MAX_BATCH]
                ],
            }
            self._spawn(self._deliver(hook, delivery, payload))

    def _object_key(self, event_key: str, record_id: int, at_ms: int) -> dict[str, Any]:
        noun, _, verb = event_key.rpartition(".")
        key: dict[str, Any] = {"id": record_id}
        if noun == "contactGroup" and verb in ("applied", "removed"):
            # The sandbox names the contact whose tags changed (Keap's payload for these is
            # not documented); its tags are at this URL.
            key["apiUrl"] = f"{self.api_base}/v2/contacts/{record_id}/tags"
        elif verb != "delete" and noun in _API_PATHS:
            key["apiUrl"] = f"{self.api_base}/v2/{_API_PATHS[noun]}/{record_id}"
        key["timestamp"] = iso(at_ms)
        return key

    async def _deliver(self, hook: Hook, delivery: int, payload: dict[str, Any]) -> None:
        generation = hook.generation
        loop = asyncio.get_running_loop()
        for number in range(1, len(RETRY_WAITS) + 2):
            if hook.generation != generation or hook.status != "Verified":
                self._outstanding.pop(delivery, None)  # Keap drops it with the hook
                return
            attempt = Attempt(
                delivery=delivery,
                hook_key=hook.key,
                event_key=payload["event_key"],
                number=number,
                started=loop.time(),
                wall_started=time.time(),
                object_count=len(payload["object_keys"]),
            )
            self.attempts.append(attempt)
            try:
                response = await self.client().post(
                    hook.hook_url, json=payload, timeout=self._timeout()
                )
                attempt.status = response.status_code
            except httpx.TimeoutException:
                attempt.error = "timeout"
            except httpx.HTTPError as exc:
                attempt.error = type(exc).__name__
            attempt.finished = loop.time()
            if attempt.ok or attempt.status == 410 or number > len(RETRY_WAITS):
                self._outstanding.pop(delivery, None)
            if attempt.status == 410:
                self._stop(hook, "Inactive")
                return
            if attempt.ok:
                return
            if number > len(RETRY_WAITS):
                self._stop(hook, "Inactive")
                return
            low, high = RETRY_WAITS[number - 1]
            await asyncio.sleep(self._rng.uniform(low, high) * self.config.hook_time_scale)

    # -- kept across restarts (persistence.py) -----------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Subscriptions, and the events Keap owes them (pending or being delivered)."""
        owed: list[tuple[str, str, dict[int, int]]] = [
            (key, batch.object_type, batch.keys) for key, batch in self._pending.items()
        ]
        owed += [*self._outstanding.values(), *self._restored]
        return {
            "api_base": self.api_base,
            "next_key": self._next_key,
            "hooks": [
                {
                    "key": h.key,
                    "event_key": h.event_key,
                    "hook_url": h.hook_url,
                    "status": h.status,
                    "secret": h.secret,
                }
                for h in self.hooks.values()
            ],
            "owed": [
                {"event_key": e, "object_type": o, "keys": [[i, ms] for i, ms in keys.items()]}
                for e, o, keys in owed
            ],
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.api_base = data.get("api_base", self.api_base)
        self._next_key = int(data.get("next_key", self._next_key))
        self.hooks = {h["key"]: Hook(**h) for h in data.get("hooks", [])}
        self._restored = [
            (o["event_key"], o["object_type"], {int(i): int(ms) for i, ms in o["keys"]})
            for o in data.get("owed", [])
        ]

    def start(self) -> None:
        """In the serving loop: deliver what was owed before a restart (again from the
        first attempt, after the usual delay)."""
        self._bind_loop()
        restored, self._restored = self._restored, []
        for event_key, object_type, keys in restored:
            for record_id, at_ms in keys.items():
                self._add(event_key, object_type, record_id, at_ms)

    # -- plumbing ----------------------------------------------------------------------

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            # A client belongs to one event loop; tests may run the sandbox in several.
            self._client = httpx.AsyncClient(headers={"User-Agent": "Keap-RestHooks (sandbox)"})
            self._client_loop = loop
        return self._client

    def _timeout(self) -> float:
        return max(
            self.config.hook_timeout_s * self.config.hook_time_scale, self.config.hook_min_timeout_s
        )

    def _bind_loop(self) -> None:
        self._loop = asyncio.get_running_loop()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    @property
    def batching(self) -> bool:
        """Whether changes are waiting for their delivery to go out."""
        return bool(self._pending)

    async def wait_idle(self, limit_s: float = 30.0) -> bool:
        """Wait until no batch is pending and no delivery is in flight (True), or give up
        after `limit_s` seconds (False)."""
        deadline = asyncio.get_running_loop().time() + limit_s
        while self._tasks:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=left)
        return True

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None and self._client_loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None
