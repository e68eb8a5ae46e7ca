"""The coordinator's side of the RPC methods: which function answers which method.

A component of the coordinator marks its answering methods with `@handles(METHOD)`;
`Dispatcher(*components)` finds them, refuses to start if a declared method has no handler or
two, and turns one call (a method name and a JSON payload) into the JSON reply.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from shared.platform.wire import CoordinatorError
from shared.rpc.methods import METHODS, Method, NoArgs

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__rpc_method__"


def handles(method: Method[Any, Any]) -> Callable[[F], F]:
    """Marks the method that answers `method`. It takes the request model (nothing for a
    method without arguments) and returns the reply, directly or awaited."""

    def mark(fn: F) -> F:
        setattr(fn, _MARK, method)
        return fn

    return mark


def _marked(component: object) -> dict[str, tuple[Method[Any, Any], Callable[..., Any]]]:
    found: dict[str, tuple[Method[Any, Any], Callable[..., Any]]] = {}
    for klass in type(component).__mro__:
        for attribute, value in vars(klass).items():
            method = getattr(value, _MARK, None)
            if isinstance(method, Method) and method.name not in found:
                found[method.name] = (method, getattr(component, attribute))
    return found


class Dispatcher:
    def __init__(self, *components: object) -> None:
        self._handlers: dict[str, tuple[Method[Any, Any], Callable[..., Any]]] = {}
        for component in components:
            for name, entry in _marked(component).items():
                if name in self._handlers:
                    raise RuntimeError(f"RPC method {name!r} has two handlers")
                self._handlers[name] = entry
        missing = sorted(set(METHODS) - set(self._handlers))
        if missing:
            raise RuntimeError(f"RPC methods without a handler: {', '.join(missing)}")

    async def dispatch(self, name: str, payload: str) -> str:
        """The encoded reply of one call; a `CoordinatorError` for a call it cannot take."""
        entry = self._handlers.get(name)
        if entry is None:
            raise CoordinatorError("unknown_method", f"no method {name!r}", 404)
        method, handler = entry
        request = method.decode_request(payload)
        result = handler() if method.request is NoArgs else handler(request)
        if inspect.isawaitable(result):
            result = await result
        return method.encode_reply(result)
