"""A worker's isolate memory, read from workerd's own inspector (Chrome DevTools Protocol).

Isolate memory is what Cloudflare holds to 128 MB: the V8 heap, the array buffers V8 keeps
outside it, and WebAssembly memory (Python's, for a Python Worker), which V8 counts in
neither (see `../shared/workerd/README.md`, "Memory"). `Runtime.getHeapUsage` answers the
first two; the WebAssembly memories are found with `Runtime.queryObjects` on
`WebAssembly.Memory.prototype` (which collects garbage first, so the heap is read before it).
"""

from __future__ import annotations

import contextlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

MB = 1 << 20  # as in Cloudflare's "128 MB" and the README's figures
ANSWER_TIMEOUT_S = 30.0
# workerd keeps one session per isolate: a second one boots the first, and the booted
# session's teardown closes the newcomer too (workerd's worker.c++, ~InspectorChannelImpl).
# wrangler's own inspector proxy is attached from the start, so the first attach ends both
# and the second one holds.
ATTACH_ATTEMPTS = 2


class InspectorError(RuntimeError):
    """The inspector refused a command or could not be reached."""


@dataclass(frozen=True)
class IsolateMemory:
    heap_used: int
    heap_total: int
    array_buffers: int
    webassembly: int  # every WebAssembly.Memory of the isolate (Python's is nearly all of it)

    @property
    def total(self) -> int:
        return self.heap_used + self.array_buffers + self.webassembly

    def describe(self, worker: str) -> str:
        return (
            f"{worker} isolate: {self.total / MB:.1f} MB (V8 heap {self.heap_used / MB:.1f} MB "
            f"used of {self.heap_total / MB:.1f} MB, array buffers "
            f"{self.array_buffers / MB:.1f} MB, WebAssembly {self.webassembly / MB:.1f} MB)"
        )


class _Session:
    """One DevTools session: numbered commands, each waiting for its own answer."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self.contexts: list[int] = []  # execution contexts announced by Runtime.enable

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        command_id = next(self._ids)
        self._ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=ANSWER_TIMEOUT_S))
            if message.get("method") == "Runtime.executionContextCreated":
                self.contexts.append(message["params"]["context"]["id"])
            if message.get("id") == command_id:
                if "error" in message:
                    raise InspectorError(f"{method}: {message['error'].get('message')}")
                return message["result"]


def _read(session: _Session) -> IsolateMemory:
    heap = session.call("Runtime.getHeapUsage")
    session.call("Runtime.enable")
    if not session.contexts:
        raise InspectorError("Runtime.enable announced no execution context")
    prototype = session.call(
        "Runtime.evaluate",
        expression="WebAssembly.Memory.prototype",
        contextId=session.contexts[0],
    )["result"]["objectId"]
    memories = session.call("Runtime.queryObjects", prototypeObjectId=prototype)["objects"]
    sizes = session.call(
        "Runtime.callFunctionOn",
        objectId=memories["objectId"],
        functionDeclaration="function () { return this.map((m) => m.buffer.byteLength); }",
        returnByValue=True,
    )["result"]["value"]
    return IsolateMemory(
        heap_used=int(heap["usedSize"]),
        heap_total=int(heap["totalSize"]),
        array_buffers=int(heap["backingStorageSize"]),
        webassembly=sum(int(size) for size in sizes),
    )


def isolate_memory(inspector_port: int, worker_name: str) -> IsolateMemory:
    """The isolate memory of the worker `worker_name` (its config's `name`) on the workerd
    whose inspector listens on `inspector_port`."""
    base = f"127.0.0.1:{inspector_port}"
    target = f"core:user:{worker_name}"
    listed = [t["id"] for t in httpx.get(f"http://{base}/json", timeout=10).json()]
    if target not in listed:
        raise InspectorError(f"no inspector target {target} on {base}: {listed}")
    url = f"ws://{base}/{target}"
    for _ in range(ATTACH_ATTEMPTS - 1):
        with contextlib.suppress(ConnectionClosed):
            return _attach_and_read(url)
    return _attach_and_read(url)


def _attach_and_read(url: str) -> IsolateMemory:
    with connect(url, proxy=None, max_size=None) as ws:
        return _read(_Session(ws))
