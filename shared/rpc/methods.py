"""Every call into an account's coordinator, declared once: its name, request and reply.

Both sides use these declarations. A worker sends `await client.call(GET_ACCESS)` (see
`shared.rpc.client`); inside the coordinator one function marked `@handles(GET_ACCESS)`
answers it (see `shared.rpc.dispatch`). A payload that does not fit the request model is
refused with `bad_request` before any handler runs, and a reply that does not fit the reply
model fails at the caller with `bad_reply`, naming the method.

Adding a method: declare it here, mark its handler with `@handles`.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.keap.credentials import KeapAccess
from shared.platform.wire import CoordinatorError, decode_reply, encode_result

Req = TypeVar("Req", bound=BaseModel)
Rep = TypeVar("Rep")

JsonObject = dict[str, Any]


def problems(exc: ValidationError, limit: int = 5) -> str:
    """A validation error in a line: `where: what` for the first few problems."""
    found = exc.errors(include_url=False, include_input=False)[:limit]
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in found)


class Method(Generic[Req, Rep]):
    """One RPC method: its name on the wire, its request model and its reply type."""

    def __init__(self, name: str, request: type[Req], reply: Any) -> None:
        if name in METHODS:
            raise ValueError(f"RPC method {name!r} is declared twice")
        self.name = name
        self.request = request
        self._reply: TypeAdapter[Rep] = TypeAdapter(reply)
        METHODS[name] = self

    def __repr__(self) -> str:
        return f"Method({self.name!r})"

    def encode_request(self, request: Req | None) -> str:
        return (request if request is not None else self.request()).model_dump_json()

    def decode_request(self, payload: str) -> Req:
        try:
            return self.request.model_validate_json(payload or "{}")
        except ValidationError as exc:
            raise CoordinatorError("bad_request", f"{self.name}: {problems(exc)}", 400) from None

    def encode_reply(self, value: Rep) -> str:
        return encode_result(self._reply.dump_python(value, mode="json"))

    def decode_reply(self, reply: str) -> Rep:
        """The reply's value, or the `CoordinatorError` the coordinator answered with."""
        try:
            return self._reply.validate_python(decode_reply(reply))
        except ValidationError as exc:
            message = f"{self.name} answered {problems(exc)}"
            raise CoordinatorError("bad_reply", message, 502) from None


METHODS: dict[str, Method[Any, Any]] = {}


class Request(BaseModel):
    """A request: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class NoArgs(Request):
    pass


# --- health and status -------------------------------------------------------------------
class Ping(BaseModel):
    account: str
    storage: str
    connection: str  # connected | reauthorization_required | not_connected
    queue: JsonObject  # the webhook queue's depth and oldest event age


class AccountStatus(BaseModel):
    account: str
    connection: JsonObject  # state and expiry times, never a token
    lease: JsonObject | None
    streams: dict[str, JsonObject]
    runs: list[JsonObject]


PING = Method("ping", NoArgs, Ping)
STATUS = Method("status", NoArgs, AccountStatus)


# --- the account registry (the `__accounts__` object; see shared/rpc/accounts.py) ---------
class AccountName(Request):
    account: str = Field(min_length=1, max_length=64)


class AccountInfo(BaseModel):
    account: str
    source: Literal["default", "setting", "registered"]  # DEFAULT_ACCOUNT, ACCOUNTS, an admin
    registered_at: str | None = None


REGISTER_ACCOUNT = Method("register_account", AccountName, AccountInfo)
LOOKUP_ACCOUNT = Method("lookup_account", AccountName, bool)
LIST_ACCOUNTS = Method("list_accounts", NoArgs, list[AccountInfo])
REGISTRY_METHODS = frozenset(m.name for m in (REGISTER_ACCOUNT, LOOKUP_ACCOUNT, LIST_ACCOUNTS))


# --- connecting the account --------------------------------------------------------------
class OAuthStart(BaseModel):
    authorize_url: str
    state_expires_in: int


class OAuthCallback(Request):
    state: str = Field(min_length=1, max_length=512)
    code: str | None = Field(None, max_length=2048)
    error: str | None = Field(None, max_length=512)


class OAuthDone(BaseModel):
    account: str
    tenant: str | None


BEGIN_OAUTH = Method("begin_oauth", NoArgs, OAuthStart)
COMPLETE_OAUTH = Method("complete_oauth", OAuthCallback, OAuthDone)


# --- Keap credentials --------------------------------------------------------------------
class Rejected(Request):
    """Keap answered 401 to this access token."""

    token: str = Field(min_length=1, max_length=4096)


GET_ACCESS = Method("get_access", NoArgs, KeapAccess)
REPORT_UNAUTHORIZED = Method("report_unauthorized", Rejected, KeapAccess)


# --- the run lease, stream states, run history ---------------------------------------------
class LeaseRequest(Request):
    run_id: str = Field(min_length=1, max_length=100)
    ttl_s: float = Field(gt=0, le=3600)


class Lease(BaseModel):
    acquired: bool
    holder: str | None = None
    expires_at: float | None = None


class RunRef(Request):
    run_id: str = Field(min_length=1, max_length=100)


class StreamRef(Request):
    stream: str = Field(min_length=1, max_length=100)


class Checkpoint(Request):
    """A stream's state, stored for the lease holder (it also extends the lease)."""

    run_id: str = Field(min_length=1, max_length=100)
    stream: str = Field(min_length=1, max_length=100)
    state: JsonObject
    pages: int = Field(0, ge=0)
    records: int = Field(0, ge=0)


class RunStart(Request):
    run_id: str = Field(min_length=1, max_length=100)
    kind: str = Field(min_length=1, max_length=40)
    streams: list[str]


class RunEnd(Request):
    run_id: str = Field(min_length=1, max_length=100)
    status: str = Field(min_length=1, max_length=40)
    errors: list[str] = []
    stats: JsonObject = {}


class RunsQuery(Request):
    limit: int = Field(20, ge=1, le=200)


ACQUIRE_LEASE = Method("acquire_lease", LeaseRequest, Lease)
RENEW_LEASE = Method("renew_lease", LeaseRequest, Lease)
RELEASE_LEASE = Method("release_lease", RunRef, None)
GET_STREAM_STATES = Method("get_stream_states", NoArgs, dict[str, JsonObject])
CHECKPOINT = Method("checkpoint", Checkpoint, None)
RESET_STREAM = Method("reset_stream", StreamRef, None)
START_RUN = Method("start_run", RunStart, None)
FINISH_RUN = Method("finish_run", RunEnd, None)
RUNS = Method("runs", RunsQuery, list[JsonObject])


# --- Keap hook events and subscriptions ----------------------------------------------------
class QueuedEvent(BaseModel):
    """One event as the webhook handler hands it over."""

    key: str = Field(min_length=1, max_length=300)  # event key | object id | timestamp
    event_key: str = Field(min_length=1, max_length=100)
    stream: str = Field(min_length=1, max_length=40)
    action: Literal["upsert", "delete"]
    id: int = Field(gt=0)
    ts: str = Field(max_length=64)


class Events(Request):
    events: list[QueuedEvent] = Field(max_length=20_000)


class Enqueued(BaseModel):
    accepted: int
    duplicates: int


class QueueChanges(Request):
    """New values for some of the queue's policy (see `shared.webhooks.queue.QueuePolicy`)."""

    changes: dict[str, float | int]


class HookKeys(Request):
    event_keys: list[Annotated[str, Field(max_length=100)]] | None = Field(
        None, max_length=200, description="default: add, edit, delete of every synced object"
    )


ENQUEUE_EVENTS = Method("enqueue_events", Events, Enqueued)
QUEUE_STATUS = Method("queue_status", NoArgs, JsonObject)
QUEUE_CONFIGURE = Method("queue_configure", QueueChanges, JsonObject)
HOOKS_REGISTER = Method("hooks_register", HookKeys, list[JsonObject])
HOOKS_LIST = Method("hooks_list", NoArgs, list[JsonObject])
HOOKS_DELETE = Method("hooks_delete", NoArgs, list[JsonObject])
HOOKS_REVERIFY = Method("hooks_reverify", NoArgs, list[JsonObject])
