"""`Sandbox`: the state behind one sandbox app, reachable in-process as `app.state.sandbox`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from datetime import UTC, datetime
from functools import cache
from typing import Any

from starlette.types import Scope

from . import bodies
from .auth import Auth
from .changes import ChangeMaker
from .config import RUNTIME_FIELDS, SandboxConfig
from .custom_fields import CustomFieldModels
from .faults import Faults
from .generator import CUSTOM_FIELD_DEFS, KINDS
from .hooks import HookManager
from .kinds import spec_drift
from .limits import Limits
from .openapi import Operations, load_operations
from .page_cache import PageCache
from .parsing import SERVED
from .persistence import Part, StateFolder
from .records import Records
from .timefmt import datetime_ms

Record = dict[str, Any]
log = logging.getLogger("keap_sandbox")


@cache
def _checked_operations() -> Operations:
    """Keap's spec as facts, once per process; refuses a sandbox whose model of an
    endpoint names what the spec does not."""
    from . import routes_tags, routes_v2  # noqa: F401 - registers the operations served

    operations = load_operations()
    problems = spec_drift(operations)
    problems += [f"{key} is not in Keap's spec" for key in SERVED if key not in operations]
    if problems:
        raise RuntimeError("the sandbox disagrees with Keap's spec: " + "; ".join(problems))
    return operations


class Sandbox:
    """Records, OAuth, limits, faults, hooks and counters of one fake Keap tenant."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        config = config or SandboxConfig()
        self.state = StateFolder(config.state_dir) if config.state_dir else None
        saved = self._saved(config)
        if saved and config.base_time is None:
            # The data set stays the one the state was made with, whatever the day.
            anchor = saved["records"]["dataset"]["anchor_ms"] / 1000
            config = config.model_copy(update={"base_time": datetime.fromtimestamp(anchor, UTC)})
        self.config = config
        self.operations = _checked_operations()
        self.records = Records(self.config)
        self.custom_fields = CustomFieldModels(CUSTOM_FIELD_DEFS)
        self.auth = Auth(self.config)
        self.limits = Limits(self.config)
        self.faults = Faults(self.config)
        self.hooks = HookManager(self.config)
        self.records.listeners.append(self.hooks.on_event)
        self.changes = ChangeMaker(self.records, self.config.seed)
        self.request_log: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.counters: Counter[str] = Counter()
        self.page_cache = PageCache(self.config.page_cache_pages)
        self._stopping: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}
        self._started = False
        self._flusher: asyncio.Task[None] | None = None
        if self.state is not None:
            self._keep(self.state, saved)

    # -- kept across restarts --------------------------------------------------------

    def _dataset(self, config: SandboxConfig) -> dict[str, Any]:
        """What makes the records what they are; state made with another is not reused."""
        return {
            "seed": config.seed,
            "counts": {kind: config.count(kind) for kind in KINDS},
            "tenant": config.tenant,
            "client_id": config.client_id,
        }

    def _saved(self, config: SandboxConfig) -> dict[str, Any]:
        """The parts a previous run left in the state folder, if they fit this data set."""
        if self.state is None:
            return {}
        saved = {name: self.state.read(name) for name in ("auth", "records", "hooks")}
        saved = {name: data for name, data in saved.items() if data is not None}
        if not saved:
            return {}
        dataset = (saved.get("records") or {}).get("dataset") or {}
        anchor = dataset.get("anchor_ms")
        same = {k: v for k, v in dataset.items() if k != "anchor_ms"} == self._dataset(config)
        if same and config.base_time is not None:
            same = anchor == datetime_ms(config.base_time)
        if not same or anchor is None:
            log.warning(
                "the sandbox state in %s belongs to another data set (seed, counts, tenant or "
                "client); starting afresh, the old files kept as *.json.previous",
                self.state.folder,
            )
            self.state.set_aside(".previous")
            return {}
        return saved

    def _keep(self, state: StateFolder, saved: dict[str, Any]) -> None:
        if "auth" in saved:
            self.auth.restore(saved["auth"])
        if "records" in saved:
            self.records.restore(saved["records"])
        if "hooks" in saved:
            self.hooks.restore(saved["hooks"])
        dataset = {**self._dataset(self.config), "anchor_ms": self.records.gen.anchor_ms}
        state.add(Part("auth", self.auth.snapshot))
        state.add(
            Part(
                "records",
                lambda: {"dataset": dataset, **self.records.snapshot()},
                self.records.version,
            )
        )
        state.add(Part("hooks", self.hooks.snapshot))
        state.flush()  # a first run writes its data set down at once

    def flush_state(self) -> None:
        """Write what changed to the state folder (no-op without one)."""
        if self.state is not None:
            self.state.flush()

    # -- what tests usually look at ----------------------------------------------------

    @property
    def grant_counts(self) -> Counter[str]:
        """Token endpoint outcomes: authorization_code, refresh_token, invalid_grant, ..."""
        return self.auth.grant_counts

    def log_request(self, scope: Scope, status: int, identity: str, elapsed_ms: float) -> None:
        query = scope.get("query_string", b"").decode()
        self.request_log.append(
            {
                "time": time.time(),
                "method": scope["method"],
                "path": scope["path"],
                "query": query,
                "status": status,
                "identity": identity,
                "ms": round(elapsed_ms, 2),
            }
        )
        self.counters["requests"] += 1
        self.counters[f"status_{status}"] += 1

    def stats(self) -> dict[str, Any]:
        return {
            "counters": dict(self.counters),
            "grant_counts": dict(self.grant_counts),
            "limits_rejected": dict(self.limits.rejected),
            "faults": dict(self.faults.counts),
            "changes_made": dict(self.changes.made),
            "records": {
                kind: {
                    "live": coll.live_count(),
                    "edited_or_created": len(coll.overlay),
                    "deleted": len(coll.deleted),
                    "version": coll.version,
                }
                for kind, coll in self.records.kinds.items()
            },
            "hooks": {
                "subscriptions": [h.public() for h in self.hooks.hooks.values()],
                "attempts": len(self.hooks.attempts),
                "failed_attempts": sum(1 for a in self.hooks.attempts if not a.ok),
                "busy": self.hooks.busy,
            },
        }

    # -- records (in-process shortcuts for tests) --------------------------------------

    def get(self, kind: str, record_id: int) -> Record | None:
        return self.records[kind].get(record_id)

    def create(self, kind: str, body: Record) -> Record:
        """Create a record from a v2 create-request body."""
        return self.records.create(
            kind, bodies.checked_changes(kind, body, creating=True, mask=None)
        )

    def update(self, kind: str, record_id: int, body: Record) -> Record:
        """Apply a v2 PATCH body to a record (bumps its update time, raises `.edit`)."""
        return self.records.update(
            kind, record_id, bodies.checked_changes(kind, body, creating=False, mask=None)
        )

    def delete(self, kind: str, record_id: int) -> None:
        self.records.delete(kind, record_id)

    def make_changes(
        self, n_edits: int = 0, n_creates: int = 0, n_deletes: int = 0, kind: str = "contacts"
    ) -> dict[str, list[int]]:
        """Deterministic edits, creates and deletes; returns the ids touched."""
        return self.changes.make(n_edits, n_creates, n_deletes, kind)

    def start_changes(
        self,
        rate_per_s: float,
        kinds: tuple[str, ...] = ("contacts",),
        weights: tuple[float, float, float] = (0.8, 0.15, 0.05),
    ) -> None:
        """Keep changing records in the background until `stop_changes`."""
        self.changes.start(rate_per_s, kinds, weights)

    async def stop_changes(self) -> None:
        await self.changes.stop()

    # -- settings ----------------------------------------------------------------------

    def update_config(self, **changes: Any) -> SandboxConfig:
        """Change run-time settings (latency, faults, limits, hook timing, token lifetimes)."""
        fixed = sorted(set(changes) - RUNTIME_FIELDS)
        if fixed:
            raise ValueError(f"not changeable while running: {', '.join(fixed)}")
        candidate = self.config.model_validate({**self.config.model_dump(), **changes})
        for name in changes:
            setattr(self.config, name, getattr(candidate, name))
        return self.config

    # -- hooks and lifecycle -----------------------------------------------------------

    async def wait_hooks_idle(self, limit_s: float = 30.0) -> bool:
        """Wait until no hook batch is pending and no delivery in flight."""
        return await self.hooks.wait_idle(limit_s)

    def _stop_event(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        event = self._stopping.get(loop)
        if event is None:
            event = self._stopping[loop] = asyncio.Event()
        return event

    async def sleep(self, seconds: float, until: asyncio.Future[Any] | None = None) -> None:
        """Sleep, but wake early when `until` completes or the sandbox is closing."""
        stop = asyncio.ensure_future(self._stop_event().wait())
        try:
            await asyncio.wait(
                {stop} | ({until} if until else set()),
                timeout=seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            stop.cancel()

    def start(self) -> None:
        """Once serving, in the serving loop: deliver the hook events owed from before a
        restart, and keep background changes flowing to the state folder."""
        if self._started:
            return
        self._started = True
        self.hooks.start()
        if self.state is not None:
            self._flusher = asyncio.get_running_loop().create_task(self.state.keep_flushing())

    @property
    def started(self) -> bool:
        return self._started

    async def aclose(self) -> None:
        """Stop background work: the change stream, hook deliveries, hanging requests;
        then write the state down a last time."""
        self._stop_event().set()
        await self.changes.stop()
        await self.hooks.aclose()
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        self.flush_state()
