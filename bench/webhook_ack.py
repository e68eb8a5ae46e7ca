"""How fast the webhook handler acknowledges Keap deliveries, with the queue draining behind it.

    .venv/bin/python bench/webhook_ack.py [--senders 50] [--deliveries 5000] [--ids 10]

Starts the local runtime (three workers, the Keap sandbox, an embedded Postgres, on free
ports) in a child process, connects the account over OAuth so the coordinator drains
what arrives, then posts `contact.edit` deliveries from `--senders` concurrent senders
over real HTTP to the authenticated hook URL. Every delivery carries new events (fresh
timestamps), so each one is validated, stored in the coordinator's queue and answered.
Two runs: each sender posting again as soon as it is answered (the saturation rate;
latency there is mostly waiting in line, senders / rate), then the senders together
offering `--rate` deliveries per second (latency counted from each send's scheduled
time). Prints acknowledgement latency (p50, p99, max), deliveries and events per second
and how far the queue had drained.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from shared.rpc.client import coordinator_client
from shared.rpc.methods import QUEUE_STATUS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SANDBOX_CONTACTS = 2000


async def start_keap(port: int) -> asyncio.subprocess.Process:
    """The Keap sandbox in its own process, as Keap's work is not done on our CPU."""
    keap = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "local.keap_sandbox",
        "--port",
        str(port),
        "--contacts",
        str(SANDBOX_CONTACTS),
        stdout=asyncio.subprocess.DEVNULL,
        cwd=ROOT,
    )
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"http://127.0.0.1:{port}/_sandbox/config")).is_success:
                    return keap
            await asyncio.sleep(0.1)
    raise RuntimeError("the Keap sandbox did not start")


async def serve(
    state_dir: Path, drain: bool, keap_in_process: bool, lift_limits: bool = True
) -> None:
    """Child process: run the runtime until SIGTERM, then print the queue's status."""
    from local.config import LocalConfig
    from local.first_run import ensure_connected
    from local.runtime import LocalRuntime
    from local.serve import free_port
    from shared.webhooks.auth import hook_url

    sandbox_port = free_port()
    keap = None if keap_in_process else await start_keap(sandbox_port)
    config = LocalConfig.from_environ(
        {},
        state_dir=state_dir,
        coordinator_port=free_port(),
        sync_worker_port=free_port(),
        webhook_port=free_port(),
        sandbox_port=sandbox_port,
        postgres_port=free_port(),
        sandbox=keap_in_process,
        sandbox_contacts=SANDBOX_CONTACTS,
        cron=False,
        # Acknowledgement alone: 10,000 deliveries a minute from one address would be held to
        # the rate limits (bench/webhook_abuse.py measures under them).
        rate_limits={"IP_LIMITER": 10**9, "ACCOUNT_LIMITER": 10**9} if lift_limits else {},
    )
    runtime = LocalRuntime(config)
    try:
        await runtime.start()
        if drain:
            await ensure_connected(runtime)  # unconnected, the queue only fills (and backs off)
        assert runtime.envs is not None and runtime.envs.sync_worker.coordinator is not None
        client = coordinator_client(runtime.envs.sync_worker)
        print(json.dumps({"hook_url": hook_url(runtime.settings, "default")}), flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        print(json.dumps(await client.call(QUEUE_STATUS)), flush=True)
    finally:
        await runtime.stop()
        if keap is not None:
            keap.terminate()
            await keap.wait()


def deliveries(count: int, ids_per: int, start: datetime) -> list[bytes]:
    """`count` contact.edit deliveries, every event distinct (its own timestamp)."""
    bodies = []
    for n in range(count):
        at = (start + timedelta(milliseconds=n)).isoformat().replace("+00:00", "Z")
        first = (n * ids_per) % SANDBOX_CONTACTS
        keys = [
            {"id": 1 + (first + i) % SANDBOX_CONTACTS, "apiUrl": "", "timestamp": at}
            for i in range(ids_per)
        ]
        body = {"event_key": "contact.edit", "object_type": "contact", "object_keys": keys}
        bodies.append(json.dumps(body).encode())
    return bodies


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough to POST and read the answer.

    httpx costs about a millisecond of CPU per request; at 50 concurrent senders in one
    process that, not the server, would be what gets measured."""

    def __init__(self, url: str, client_ip: str | None = None) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        # The address Cloudflare's edge would report for this sender.
        self.extra = f"CF-Connecting-IP: {client_ip}\r\n" if client_ip else ""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {self.target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\nUser-Agent: Keap-RestHooks (bench)\r\n"
            f"{self.extra}Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line, *headers = (await self.reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        length = next(
            int(h.split(b":", 1)[1]) for h in headers if h.lower().startswith(b"content-length:")
        )
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def load(
    url: str, bodies: list[bytes], senders: int, rate: float = 0.0
) -> tuple[list[float], float, int]:
    """(latencies in ms, elapsed seconds, non-200 answers) posting `bodies` from `senders`
    connections. With `rate` (deliveries/s, all senders together) each sender keeps its
    own schedule and latency counts from the scheduled time, so a slow answer is not
    hidden by the sends it delays; without, each sends again as soon as it is answered."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    failures = 0
    interval = senders / rate if rate else 0.0

    async def sender(offset: float) -> None:
        nonlocal failures
        connection = Connection(url)
        due = time.perf_counter() + offset
        try:
            while not queue.empty():
                body = queue.get_nowait()
                if interval:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                started = due if interval else time.perf_counter()
                status = await connection.post(body)
                latencies.append((time.perf_counter() - started) * 1000)
                failures += status != 200
                due += interval
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(sender(i * interval / senders) for i in range(senders)))
    return latencies, time.perf_counter() - started, failures


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(title: str, latencies: list[float], elapsed: float, failures: int, ids: int) -> None:
    count = len(latencies)
    print(f"  {title}")
    print(
        f"    latency ms  p50 {percentile(latencies, 50):.1f}  p99 {percentile(latencies, 99):.1f}"
        f"  max {max(latencies):.1f}  mean {statistics.fmean(latencies):.1f}"
    )
    print(
        f"    throughput  {count / elapsed:.0f} deliveries/s  {count * ids / elapsed:.0f} events/s"
        f"  ({count} in {elapsed:.1f} s, {failures} not 200)"
    )


async def python_child(script: str, *args: str) -> asyncio.subprocess.Process:
    """`script` with `args` in a Python process of its own, its stdout piped to us."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        *args,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    return child


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="webhook-ack-") as state:
        child = await python_child(
            __file__,
            "--serve",
            state,
            *([] if args.drain else ["--no-drain"]),
            *(["--keap-in-process"] if args.keap_in_process else []),
        )
        assert child.stdout is not None
        try:
            url = json.loads(await child.stdout.readline())["hook_url"]
            now = datetime.now(UTC)
            await load(url, deliveries(200, args.ids, now - timedelta(days=2)), args.senders)
            flat_out = await load(url, deliveries(args.deliveries, args.ids, now), args.senders)
            paced_bodies = deliveries(args.deliveries, args.ids, now - timedelta(days=1))
            paced = await load(url, paced_bodies, args.senders, args.rate)
        finally:
            child.send_signal(signal.SIGTERM)
        status = json.loads(await child.stdout.readline() or b"{}")
        await child.wait()
    drain = "queue draining behind" if args.drain else "queue not draining"
    keap = "in the runtime's process" if args.keap_in_process else "in its own process"
    print(f"webhook ack: {args.senders} concurrent senders, {args.ids} events a delivery, {drain}")
    print(f"  (Keap sandbox {keap}; runtime in one process, this load generator in another;")
    print("   rate limits lifted: bench/webhook_abuse.py measures acknowledgement under them)")
    report("as fast as answered (saturation)", *flat_out, args.ids)
    report(f"paced at {args.rate:.0f} deliveries/s in total", *paced, args.ids)
    if status:
        totals = status.get("totals", {})
        print(
            f"  queue afterwards: received {totals.get('received')}, applied "
            f"{totals.get('applied')}, still queued {status.get('depth')}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--ids", type=int, default=10, help="events per delivery")
    parser.add_argument("--rate", type=float, default=500, help="deliveries/s, paced run")
    parser.add_argument(
        "--no-drain", dest="drain", action="store_false", help="leave the account unconnected"
    )
    parser.add_argument(
        "--keap-in-process",
        action="store_true",
        help="run the Keap sandbox inside the runtime's process (as the tests do)",
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    cli = parser.parse_args()
    if cli.serve:
        asyncio.run(serve(cli.serve, cli.drain, cli.keap_in_process))
    else:
        asyncio.run(main(cli))
