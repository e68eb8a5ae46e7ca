"""One run under the coordinator's lease: history, checkpoints, budget, outcome.

`async with Run(...) as run:` takes the lease (or raises `LeaseBusy`), records the
run's start, and on the way out records how it ended and releases the lease, also
when the task is cancelled. Errors are sorted here, once: which end the whole run
and which only the stream they happened in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from shared import timefmt
from shared.keap.credentials import KeapAccess
from shared.keap.errors import KeapError, KeapNotFound, KeapRequestError
from shared.platform.wire import CoordinatorError
from shared.rpc.client import CoordinatorClient
from shared.rpc.methods import (
    ACQUIRE_LEASE,
    CHECKPOINT,
    FINISH_RUN,
    GET_ACCESS,
    GET_STREAM_STATES,
    RELEASE_LEASE,
    RENEW_LEASE,
    REPORT_UNAUTHORIZED,
    RESET_STREAM,
    START_RUN,
    Checkpoint,
    LeaseRequest,
    Rejected,
    RunEnd,
    RunRef,
    RunStart,
    StreamRef,
)
from shared.store.store import StoreError
from shared.sync.budget import Budget

log = logging.getLogger("keap_sync.run")

LEASE_TTL_S = 60.0  # the default of the SYNC_LEASE_TTL_S setting

REAUTHORIZE = (
    "Keap authorization was revoked or has expired: an admin must reconnect the account "
    "(GET /oauth/initiate on the sync-coordinator)"
)


class LeaseBusy(Exception):
    """Another run holds the lease."""

    def __init__(self, holder: str | None, expires_at: float | None) -> None:
        super().__init__(f"sync run {holder} is in progress")
        self.holder = holder
        self.expires_at = expires_at


class RunAborted(Exception):
    """Ends the whole run; `code` and `message` are safe to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


KEAP_REFUSED = "keap_refused"


def refused_by_keap(exc: BaseException) -> dict[str, Any] | None:
    """Keap's status and words when it refused a request outright (a 4xx other than 401
    and 429): asking again the same way will not help. None for anything else."""
    if isinstance(exc, KeapRequestError | KeapNotFound) and exc.status is not None:
        return {"status": exc.status, "message": exc.message}
    return None


def classify(exc: BaseException) -> tuple[str, str, bool]:
    """(code, safe message, ends the run?) for a failure inside a run."""
    if isinstance(exc, RunAborted):
        return exc.code, exc.message, True
    if isinstance(exc, CoordinatorError):
        if exc.code == "reauthorization_required":
            return exc.code, REAUTHORIZE, True
        return exc.code, exc.message, True
    refused = refused_by_keap(exc)
    if refused is not None:
        message = str(refused["message"])
        if f"HTTP {refused['status']}" not in message:
            message = f"HTTP {refused['status']}: {message}"
        return KEAP_REFUSED, message, False
    if isinstance(exc, KeapError):
        return exc.code, exc.message, True
    if isinstance(exc, StoreError):
        return exc.code, exc.message, True
    return "internal_error", type(exc).__name__, True


@dataclass
class StreamResult:
    stream: str
    status: str = "pending"  # complete | partial | failed | pending
    pages: int = 0
    records: int = 0
    written: int = 0
    deleted: int = 0
    fetched_missing: int = 0
    cleaned: int = 0  # records whose text Postgres could not hold as it was (see store.clean)
    quarantined: int = 0  # records Postgres refused, kept in keap.quarantine
    details_read: int = 0  # records whose list-less fields were read one by one
    cursor: str | None = None
    error: str | None = None


@dataclass
class RunResult:
    run_id: str
    kind: str
    status: str = "running"  # ok | partial | failed | cancelled
    streams: dict[str, StreamResult] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    error_code: str | None = None
    stop_reason: str | None = None
    keap_requests: int = 0
    subrequests: int = 0
    elapsed_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Journal(Protocol):
    """Where a run's progress is written for people to read (`shared/store/journal.py`
    writes it to Postgres). Its failures are its own: a run never fails because of them."""

    async def started(self, run_id: str, kind: str) -> None: ...

    async def checkpoint(
        self, run_id: str, obj: str, cursor: str | None, counts: Mapping[str, Any]
    ) -> None: ...

    async def finished(
        self,
        run_id: str,
        status: str,
        counts: Mapping[str, Mapping[str, Any]],
        stop_reason: str | None,
        error: str | None,
    ) -> None: ...


class NoJournal:
    """A run that writes its progress nowhere but the coordinator."""

    async def started(self, run_id: str, kind: str) -> None:
        return None

    async def checkpoint(
        self, run_id: str, obj: str, cursor: str | None, counts: Mapping[str, Any]
    ) -> None:
        return None

    async def finished(
        self,
        run_id: str,
        status: str,
        counts: Mapping[str, Mapping[str, Any]],
        stop_reason: str | None,
        error: str | None,
    ) -> None:
        return None


def stream_counts(result: StreamResult) -> dict[str, Any]:
    """A stream's figures as runs record them (everything but its name)."""
    return {k: v for k, v in asdict(result).items() if k != "stream"}


class CountingCredentials:
    """The coordinator as Keap's credential source, counting each call as a subrequest."""

    def __init__(self, coordinator: CoordinatorClient, budget: Budget) -> None:
        self._coordinator = coordinator
        self._budget = budget

    async def get_access(self) -> KeapAccess:
        self._budget.spend()
        return await self._coordinator.call(GET_ACCESS)

    async def report_unauthorized(self, token: str) -> KeapAccess:
        self._budget.spend()
        return await self._coordinator.call(REPORT_UNAUTHORIZED, Rejected(token=token))


class Run:
    def __init__(
        self,
        coordinator: CoordinatorClient,
        budget: Budget,
        kind: str,
        streams: list[str],
        *,
        lease_ttl_s: float = LEASE_TTL_S,
        journal: Journal | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.journal: Journal = journal or NoJournal()
        self.budget = budget
        self.lease_ttl_s = lease_ttl_s
        self.result = RunResult(run_id=f"{kind}-{uuid.uuid4().hex[:12]}", kind=kind)
        self.result.streams = {name: StreamResult(name) for name in streams}
        self._started = time.monotonic()
        self._last_lease_renewal = self._started
        self._heartbeat: asyncio.Task[None] | None = None
        self.keap_requests: Callable[[], int] = lambda: 0  # set by whoever makes them

    @property
    def run_id(self) -> str:
        return self.result.run_id

    async def __aenter__(self) -> Run:
        self.budget.spend(2)
        lease = await self.coordinator.call(ACQUIRE_LEASE, self._lease_request())
        if not lease.acquired:
            raise LeaseBusy(lease.holder, lease.expires_at)
        try:
            start = RunStart(
                run_id=self.run_id, kind=self.result.kind, streams=list(self.result.streams)
            )
            await self.coordinator.call(START_RUN, start)
        except BaseException:
            await self._release()
            raise
        await self.journal.started(self.run_id, self.result.kind)
        self._heartbeat = asyncio.create_task(self._keep_lease_alive())
        return self

    async def _keep_lease_alive(self) -> None:
        """Renew the lease while the run lives, whatever it waits on (a slow page, Keap's
        backoff); it dies with the run's process, and the lease lapses soon after."""
        while True:
            await asyncio.sleep(self.lease_ttl_s / 6)
            try:
                await self.keep_lease()
            except Exception as exc:  # the run's next checkpoint meets the same problem
                log.warning("run %s could not renew its lease: %s", self.run_id, type(exc).__name__)
                return

    def _lease_request(self) -> LeaseRequest:
        return LeaseRequest(run_id=self.run_id, ttl_s=self.lease_ttl_s)

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        result = self.result
        if isinstance(exc, asyncio.CancelledError):
            result.status = "cancelled"
            result.errors.append("the run was cancelled")
        elif exc is not None:
            code, message, _ = classify(exc)
            result.status, result.error_code = "failed", code
            result.errors.append(f"{code}: {message}")
            if code == "internal_error":
                log.error("run %s failed unexpectedly", self.run_id, exc_info=exc)
            else:
                log.error("run %s failed: %s", self.run_id, code)
        elif any(s.status == "failed" for s in result.streams.values()):
            refused = any((s.error or "").startswith(KEAP_REFUSED) for s in result.streams.values())
            if refused and not result.error_code:
                # Keap refuses a stream for good: the run failed (the other streams still
                # ran), not a partial run the next one finishes.
                result.error_code = KEAP_REFUSED
            result.status = "failed" if result.error_code else "partial"
        elif all(s.status == "complete" for s in result.streams.values()):
            result.status = "ok"
        else:
            result.status = "partial"
        result.elapsed_s = round(time.monotonic() - self._started, 3)
        result.subrequests = self.budget.used
        result.keap_requests = self.keap_requests()
        # Recording the outcome must survive a cancellation of the surrounding task.
        await asyncio.shield(self._finish())
        return exc is not None and not isinstance(exc, asyncio.CancelledError | LeaseBusy)

    async def _finish(self) -> None:
        result = self.result
        stats: dict[str, dict[str, Any]] = {
            name: stream_counts(s) for name, s in result.streams.items()
        }
        counts = dict(stats)
        stats["_run"] = {
            "keap_requests": result.keap_requests,
            "subrequests": result.subrequests,
            "elapsed_s": result.elapsed_s,
            "stop_reason": result.stop_reason,
        }
        try:
            self.budget.spend()
            end = RunEnd(
                run_id=self.run_id, status=result.status, errors=result.errors, stats=stats
            )
            await self.coordinator.call(FINISH_RUN, end)
        except Exception as exc:  # the lease must still be released
            log.error("could not record the end of run %s: %s", self.run_id, type(exc).__name__)
        error = "; ".join(result.errors) or None
        try:
            await self.journal.finished(
                self.run_id, result.status, counts, result.stop_reason, error
            )
        except Exception as exc:
            log.error("could not journal the end of run %s: %s", self.run_id, type(exc).__name__)
        await self._release()

    async def _release(self) -> None:
        try:
            self.budget.spend()
            await self.coordinator.call(RELEASE_LEASE, RunRef(run_id=self.run_id))
        except Exception as exc:  # it expires on its own
            log.warning("could not release the lease of %s: %s", self.run_id, type(exc).__name__)

    # --- during the run ---------------------------------------------------------------
    def must_stop(self) -> bool:
        """Whether the budget leaves no room for another page (then the result says why)."""
        reason = self.budget.stop_reason()
        if reason is not None:
            self.result.stop_reason = reason
        return reason is not None

    async def stream_states(self) -> dict[str, dict[str, Any]]:
        self.budget.spend()
        return await self.coordinator.call(GET_STREAM_STATES)

    async def reset(self, stream: str) -> None:
        self.budget.spend()
        await self.coordinator.call(RESET_STREAM, StreamRef(stream=stream))
        await self._journal_progress(stream, None)

    async def checkpoint(
        self, stream: str, state: dict[str, Any], pages: int = 0, records: int = 0
    ) -> None:
        """Store a stream's state (this also extends the lease)."""
        self.budget.spend()
        checkpoint = Checkpoint(
            run_id=self.run_id, stream=stream, state=state, pages=pages, records=records
        )
        await self.coordinator.call(CHECKPOINT, checkpoint)
        self._last_lease_renewal = time.monotonic()
        await self._journal_progress(stream, state.get("cursor"))

    async def _journal_progress(self, stream: str, cursor: str | None) -> None:
        progress = self.result.streams.get(stream)  # a stream's sync, not its reconciliation
        if progress is not None:
            counts = stream_counts(progress)
            await self.journal.checkpoint(self.run_id, stream, cursor, counts)

    async def keep_lease(self) -> None:
        """Renew the lease when no checkpoint has done so for a third of its life."""
        if time.monotonic() - self._last_lease_renewal < self.lease_ttl_s / 3:
            return
        self.budget.spend()
        lease = await self.coordinator.call(RENEW_LEASE, self._lease_request())
        if not lease.acquired:
            raise RunAborted("lease_lost", "another run took over the sync lease")
        self._last_lease_renewal = time.monotonic()

    def fail_stream(self, stream: str, exc: BaseException) -> None:
        """Record a failure that ends only this stream (the caller re-raises the others)."""
        code, message, _ = classify(exc)
        result = self.result.streams[stream]
        result.status, result.error = "failed", f"{code}: {message}"
        self.result.errors.append(f"{stream}: {code}: {message}")
        if code == KEAP_REFUSED:  # Keap's words are safe to log: no credential in them
            log.error("stream %s failed in run %s: %s: %s", stream, self.run_id, code, message)
        else:
            log.warning("stream %s failed in run %s: %s", stream, self.run_id, code)

    async def record_refusal(
        self, state_key: str, stored: dict[str, Any], refused: dict[str, Any]
    ) -> None:
        """Keep Keap's refusal in the stream's stored state, where status and health read
        it, until a later run gets through (its next checkpoint has no `refused`)."""
        now = timefmt.keap(timefmt.now())
        before = stored.get("refused") or {}
        state = {
            **stored,
            "refused": {**refused, "since": before.get("since") or now, "last": now},
        }
        await self.checkpoint(state_key, state)

    @staticmethod
    def ends_run(exc: BaseException) -> bool:
        return classify(exc)[2]


@contextlib.asynccontextmanager
async def stream_errors(
    run: Run,
    stream: str,
    state_key: str | None = None,
    stored: Callable[[], dict[str, Any]] = dict,
) -> AsyncIterator[None]:
    """Record a stream-level failure and carry on; let run-level failures through.

    A request Keap refuses for good is also kept in the state under `state_key` (the
    last stored state being `stored()`), so it shows until a run gets through."""
    try:
        yield
    except Exception as exc:
        if Run.ends_run(exc):
            raise
        refused = refused_by_keap(exc)
        if refused is not None and state_key is not None:
            await run.record_refusal(state_key, stored(), refused)
        run.fail_stream(stream, exc)
