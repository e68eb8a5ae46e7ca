"""Cloudflare's bindings behind the `shared.platform.interfaces` protocols.

Only the workers' entry modules import this module. Nothing from `js` or `pyodide` is
imported at module level (those modules exist only inside the Workers runtime), so this
module imports on CPython and its pure parts are tested there.

Every JS value is converted to Python where it enters: JS null and undefined become None,
arrays lists, plain objects dicts, buffers bytes. The bindings handed in may be the runtime's
raw JS proxies or the Python SDK's wrappers around them (`self.env.X` and `self.ctx.storage`
are wrapped). The adapters use either only through what both offer (attributes and calls) and
convert every answer with `to_python`, which takes JS values and the wrappers' already
converted Python values alike; the SDK's private attributes are never read.

Binding names (see each worker's wrangler.toml): `SYNC_CACHE` (KV), `HYPERDRIVE`,
`COORDINATOR` (service binding to the sync-coordinator) and `SYNC_COORDINATOR` (the Durable
Object namespace, in the coordinator worker only).
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from shared.config import Settings
from shared.platform.env import WorkerEnv
from shared.platform.fetch import FetchTransport
from shared.platform.interfaces import DatabaseUnavailable, DurableObjectNamespace, Row
from shared.platform.wire import CoordinatorError, encode_error

T = TypeVar("T")

log = logging.getLogger("keap_sync.platform")

KV_BINDING = "SYNC_CACHE"
HYPERDRIVE_BINDING = "HYPERDRIVE"
COORDINATOR_BINDING = "COORDINATOR"
DURABLE_OBJECT_BINDING = "SYNC_COORDINATOR"
IP_LIMITER_BINDING = "IP_LIMITER"
ACCOUNT_LIMITER_BINDING = "ACCOUNT_LIMITER"
RATE_LIMIT_PERIOD_S = 60  # the period of both limiters in the workers' wrangler.toml

KV_MIN_TTL_S = 60  # Workers KV rejects an expirationTtl below 60 seconds

# What this isolate keeps between requests (`WorkerEnv.instance`).
INSTANCE: dict[str, Any] = {}


# --- the edge between JS and Python -------------------------------------------------------


@functools.cache
def _jsnull() -> Any:
    """Pyodide's JS-null sentinel (newer Pyodide no longer maps null to None), or None."""
    try:
        from pyodide.ffi import jsnull
    except ImportError:
        return None
    return jsnull


@functools.cache
def _proxy_types() -> tuple[type, ...]:
    try:
        from pyodide.ffi import JsProxy
    except ImportError:
        return ()
    return (JsProxy,)


@functools.cache
def _buffer_types() -> tuple[type, ...]:
    try:
        from pyodide.ffi import JsBuffer
    except ImportError:
        return ()
    return (JsBuffer,)


def _is_null(value: Any) -> bool:
    return value is None or value is _jsnull()


def _is_proxy(value: Any) -> bool:
    types = _proxy_types()
    return bool(types) and isinstance(value, types)


def to_python(value: Any) -> Any:
    """A JS value as plain Python: null/undefined -> None, Array -> list, Object -> dict,
    ArrayBuffer/TypedArray -> bytes; strings, numbers and booleans as they are. A JS object
    that has no Python equivalent (a class instance) stays a proxy."""
    if _is_null(value):
        return None
    if isinstance(value, str | bool | int | float | bytes):
        return value
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, dict):
        return {k: to_python(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_python(v) for v in value]
    if _is_proxy(value):
        if _buffer_types() and isinstance(value, _buffer_types()):
            return value.to_bytes()
        converted = value.to_py()
        if _is_proxy(converted):
            return converted
        return to_python(converted)
    return value


def binding(js_env: Any, name: str) -> Any:
    """The binding or var `name` of a worker's env, or None when the worker does not have it."""
    value = getattr(js_env, name, None)
    return None if _is_null(value) else value


def _js_object(values: dict[str, Any]) -> Any:
    """A Python dict as a plain JS object (the options argument of a binding method)."""
    from js import Object
    from pyodide.ffi import to_js

    return to_js(values, dict_converter=Object.fromEntries)


def _js_callable(fn: Callable[[], Any]) -> Any:
    """A Python function JS calls exactly once, synchronously."""
    from pyodide.ffi import create_once_callable

    return create_once_callable(fn)


def _js_array_buffer(data: bytes) -> Any:
    from pyodide.ffi import to_js

    array = to_js(data)
    return array.buffer.slice(array.byteOffset, array.byteOffset + array.byteLength)


def sql_param(value: Any) -> Any:
    """A Python value as a Durable Object SQL binding: NULL, number, text or blob."""
    if value is None:
        return _jsnull()  # None would reach JS as undefined, which SQL storage rejects
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return _js_array_buffer(bytes(value))
    raise TypeError(f"unsupported SQL parameter type: {type(value).__name__}")


# --- KV --------------------------------------------------------------------------------------


class CloudflareKV:
    """Workers KV (`KV` protocol) over a KV namespace binding."""

    def __init__(self, namespace: Any) -> None:
        self._kv = namespace

    async def get(self, key: str) -> str | None:
        value = to_python(await self._kv.get(key))
        return None if value is None else str(value)

    async def put(self, key: str, value: str, ttl: int | None = None) -> None:
        if ttl is None:
            await self._kv.put(key, value)
            return
        if ttl < KV_MIN_TTL_S:
            raise ValueError(f"KV expirationTtl must be at least {KV_MIN_TTL_S} seconds")
        await self._kv.put(key, value, _js_object({"expirationTtl": int(ttl)}))

    async def delete(self, key: str) -> None:
        await self._kv.delete(key)


# --- Durable Object storage ------------------------------------------------------------------


class CloudflareSqlStorage:
    """`ctx.storage.sql` of a SQLite-backed Durable Object (`SqlStorage` protocol)."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage
        self._sql = self._storage.sql

    def exec(self, query: str, *params: Any) -> list[Row]:
        cursor = self._sql.exec(query, *(sql_param(p) for p in params))
        rows = to_python(cursor.toArray())
        return [dict(row) for row in rows or []]

    def transaction(self, fn: Callable[[], T]) -> T:
        """`fn` inside `ctx.storage.transactionSync`: all of its statements or none.

        An exception from `fn` rolls the transaction back and is re-raised as itself, not as
        the JS error it travelled through.
        """
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["value"] = fn()
            except BaseException as exc:
                outcome["error"] = exc
                raise

        try:
            self._storage.transactionSync(_js_callable(run))
        except BaseException:
            if "error" in outcome:
                raise outcome["error"] from None
            raise
        return outcome["value"]


class CloudflareDurableStorage:
    """`ctx.storage` of a Durable Object (`DurableStorage` protocol): SQL plus the alarm."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage
        self._sql = CloudflareSqlStorage(self._storage)

    @property
    def sql(self) -> CloudflareSqlStorage:
        return self._sql

    async def get_alarm(self) -> float | None:
        value = to_python(await self._storage.getAlarm())
        return None if value is None else float(value)

    async def set_alarm(self, epoch_ms: float) -> None:
        await self._storage.setAlarm(float(epoch_ms))

    async def delete_alarm(self) -> None:
        await self._storage.deleteAlarm()


def durable_object_name(ctx: Any) -> str | None:
    """The name a Durable Object was addressed by (`ctx.id.name`), when the runtime gives it.

    Objects reached through `idFromName()`/`getByName()` see their name there, alarms included.
    """
    object_id = getattr(ctx, "id", None)
    if _is_null(object_id):
        return None
    name = to_python(getattr(object_id, "name", None))
    return name if isinstance(name, str) and name else None


# --- Workers Rate Limiting ---------------------------------------------------------------------


class CloudflareRateLimiter:
    """A `ratelimit` binding (`RateLimiter` protocol): `limit({key})` answers `{success}`.

    The binding does not tell its period; `period_s` is the one its wrangler.toml sets."""

    def __init__(self, binding: Any, period_s: int = RATE_LIMIT_PERIOD_S) -> None:
        self._binding = binding
        self._period_s = period_s

    @property
    def period_s(self) -> int:
        return self._period_s

    async def limit(self, key: str) -> bool:
        outcome = to_python(await self._binding.limit(_js_object({"key": key})))
        return bool(outcome.get("success")) if isinstance(outcome, dict) else False


# --- Postgres through Hyperdrive -------------------------------------------------------------


class CloudflareDatabase:
    """The Postgres behind the `HYPERDRIVE` binding (`Database` protocol), through asyncpg."""

    def __init__(self, hyperdrive: Any) -> None:
        self._hyperdrive = hyperdrive

    @property
    def dsn(self) -> str:
        return str(to_python(self._hyperdrive.connectionString))

    async def connect(self) -> Any:
        try:
            import asyncpg
        except ImportError:
            raise DatabaseUnavailable(
                "the Postgres driver (asyncpg) is not in this worker's bundle: "
                "build it with tools/bundle.py, which takes asyncpg from Pyodide's package index"
            ) from None

        dsn = self.dsn
        # Worker -> Hyperdrive is a local hop: Hyperdrive itself speaks TLS to the origin
        # database. Cloudflare's Python examples turn driver-side TLS off; asyncpg's default
        # ("prefer") would try to negotiate it first. A DSN that names an sslmode is obeyed.
        options: dict[str, Any] = {} if "sslmode=" in dsn else {"ssl": False}
        return await asyncpg.connect(dsn, **options)


# --- the coordinator over RPC ----------------------------------------------------------------


async def _rpc_text(call: Callable[[], Any], method: str) -> str:
    """Await one RPC call whose answer is the coordinator's JSON text.

    A call that fails in transit (the coordinator unreachable, overloaded, or its code
    raising) comes back as an encoded `CoordinatorError`, like any other failure.
    """
    try:
        reply = to_python(await call())
    except Exception as exc:
        # The type only: a JS error's text can carry a Python traceback with request data.
        log.warning("coordinator RPC %r failed: %s", method, type(exc).__name__)
        error = CoordinatorError("coordinator_unavailable", "the coordinator did not answer", 503)
        return encode_error(error)
    if not isinstance(reply, str):
        log.warning("coordinator RPC %r answered %s, not text", method, type(reply).__name__)
        error = CoordinatorError("coordinator_bad_reply", "the coordinator answered nonsense", 502)
        return encode_error(error)
    return reply


class ServiceBindingCoordinator:
    """`CoordinatorTransport` over the `COORDINATOR` service binding: RPC to the coordinator
    worker's default entrypoint, `call(account, method, payload) -> str`."""

    def __init__(self, service: Any) -> None:
        self._service = service

    async def call(self, account: str, method: str, payload: str) -> str:
        return await _rpc_text(lambda: self._service.call(account, method, payload), method)


class CloudflareDurableObjectNamespace:
    """`DurableObjectNamespace` over the `SYNC_COORDINATOR` binding: RPC to the object named
    `name`, `call(method, payload, name) -> str` (the name rides along for runtimes whose
    `ctx.id.name` is empty)."""

    def __init__(self, namespace: Any) -> None:
        self._namespace = namespace

    def _stub(self, name: str) -> Any:
        get_by_name = getattr(self._namespace, "getByName", None)
        if get_by_name is not None:
            return get_by_name(name)
        return self._namespace.get(self._namespace.idFromName(name))

    async def call(self, name: str, method: str, payload: str) -> str:
        return await _rpc_text(lambda: self._stub(name).call(method, payload, name), method)


class DurableObjectCoordinator:
    """`CoordinatorTransport` straight to the Durable Object namespace: the coordinator
    worker's own way to its objects (it has no service binding to itself)."""

    def __init__(self, namespace: DurableObjectNamespace) -> None:
        self._namespace = namespace

    async def call(self, account: str, method: str, payload: str) -> str:
        return await self._namespace.call(account, method, payload)


# --- the env ---------------------------------------------------------------------------------


def apply_log_level(level: str | None) -> None:
    """The `LOG_LEVEL` var as the level of this product's loggers (`keap_sync.*`).

    Without it, Python's last-resort handler prints warnings and errors only. With it, lines
    go to stdout, which the runtime turns into `console.log` (stderr would be shown as errors).
    """
    number = logging.getLevelName(level.upper()) if level else None
    if not isinstance(number, int):
        return  # unset, or a name logging does not know: the default stands
    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stdout, format="%(name)s %(levelname)s %(message)s")
    logging.getLogger("keap_sync").setLevel(number)


def worker_env_from_js(js_env: Any) -> WorkerEnv:
    """A worker's `WorkerEnv` from the env the runtime hands it (`self.env`).

    Vars and secrets are both plain attributes of the env; each name in `Settings.names()`
    is read if present. A binding the worker does not have is None. With a `COORDINATOR`
    service binding the coordinator is reached through it; without one but with the Durable
    Object namespace (the coordinator worker itself), directly through the namespace.
    Outbound HTTP goes through the runtime's `fetch` (`shared.platform.fetch`).
    """
    settings = Settings.from_mapping(
        {name: to_python(binding(js_env, name)) for name in Settings.names()}
    )
    apply_log_level(settings.LOG_LEVEL)
    kv = binding(js_env, KV_BINDING)
    hyperdrive = binding(js_env, HYPERDRIVE_BINDING)
    service = binding(js_env, COORDINATOR_BINDING)
    namespace_binding = binding(js_env, DURABLE_OBJECT_BINDING)
    ip_limiter, account_limiter = (
        binding(js_env, IP_LIMITER_BINDING),
        binding(js_env, ACCOUNT_LIMITER_BINDING),
    )

    namespace = (
        CloudflareDurableObjectNamespace(namespace_binding)
        if namespace_binding is not None
        else None
    )
    coordinator: ServiceBindingCoordinator | DurableObjectCoordinator | None = None
    if service is not None:
        coordinator = ServiceBindingCoordinator(service)
    elif namespace is not None:
        coordinator = DurableObjectCoordinator(namespace)

    return WorkerEnv(
        settings=settings,
        kv=CloudflareKV(kv) if kv is not None else None,
        database=CloudflareDatabase(hyperdrive) if hyperdrive is not None else None,
        coordinator=coordinator,
        durable_objects=namespace,
        http_transport=FetchTransport,  # Pyodide has no TLS: outbound HTTPS goes through fetch
        instance=INSTANCE,
        ip_limiter=CloudflareRateLimiter(ip_limiter) if ip_limiter is not None else None,
        account_limiter=(
            CloudflareRateLimiter(account_limiter) if account_limiter is not None else None
        ),
    )


def scheduled_cron(controller: Any) -> str:
    """The cron expression that fired, from a `scheduled` handler's controller."""
    cron = getattr(controller, "cron", None)
    if cron is None and isinstance(controller, dict):
        cron = controller.get("cron")
    cron = to_python(cron)
    return "" if cron is None else str(cron)
