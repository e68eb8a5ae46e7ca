"""Hook acknowledgement under abuse: Keap's deliveries while a crowd sends bad tokens.

    .venv/bin/python bench/webhook_abuse.py [--senders 50] [--attackers 500] [--seconds 10]

Starts the local runtime (as bench/webhook_ack.py does: three workers, the Keap sandbox, an
embedded Postgres, in a child process; the account connected so the queue drains behind) with
the rate limits its wrangler.toml declares. Then, for `--seconds`, `--senders` senders post
valid `contact.edit` deliveries to the authenticated hook URL, together `--rate` a second, from
Keap's addresses (`--keap-ips` of them, as CF-Connecting-IP), while `--attackers` senders post
deliveries with bad URL tokens as fast as they are answered, from `--attacker-ips` addresses.
The attackers run in a process of their own, so the process that measures the valid
deliveries does nothing else. Prints the valid deliveries' acknowledgement latency (p50, p99,
max, counted from each send's scheduled time) against the target (p99 under 100 ms) and the
attackers' answers by status, beside a run of the valid senders alone (the floor, measured in
the same run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhook_ack import (  # noqa: E402
    Connection,
    deliveries,
    percentile,
    python_child,
    serve,
)

TARGET_P99_MS = 100.0


async def valid_senders(
    url: str, bodies: list[bytes], senders: int, rate: float, keap_ips: int
) -> tuple[list[float], Counter[int]]:
    """Each sender on its own schedule (latency from the scheduled time, so a slow answer
    is not hidden by the sends it delays)."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    interval = senders / rate
    per_sender = len(bodies) // senders

    async def sender(n: int) -> None:
        connection = Connection(url, f"192.0.2.{1 + n % keap_ips}")
        due = time.perf_counter() + n * interval / senders
        try:
            for body in bodies[n * per_sender : (n + 1) * per_sender]:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                status = await connection.post(body)
                latencies.append((time.perf_counter() - due) * 1000)
                statuses[status] += 1
                due += interval
        finally:
            await connection.close()

    await asyncio.gather(*(sender(n) for n in range(senders)))
    return latencies, statuses


async def attackers(
    url: str, count: int, ips: int, rate: float, stop: asyncio.Event
) -> Counter[int]:
    """Bad tokens until `stop`: together `rate` a second, or as fast as answered (0)."""
    bad = url.rsplit("token=", 1)[0] + "token=" + "0" * 64
    body = deliveries(1, 10, datetime.now(UTC))[0]
    statuses: Counter[int] = Counter()
    interval = count / rate if rate else 0.0

    async def attacker(n: int) -> None:
        connection = Connection(bad, f"203.0.113.{n % ips}")
        due = time.perf_counter() + n * interval / count
        try:
            while not stop.is_set():
                if interval:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    due += interval
                statuses[await connection.post(body)] += 1
        finally:
            await connection.close()

    await asyncio.gather(*(attacker(n) for n in range(count)))
    return statuses


async def attack(args: argparse.Namespace) -> None:
    """Child process: the crowd, until SIGTERM; then its answers by status, as JSON."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    crowd = asyncio.create_task(
        attackers(args.attack, args.attackers, args.attacker_ips, args.attack_rate, stop)
    )
    print("attacking", flush=True)
    statuses = await crowd
    print(json.dumps(statuses), flush=True)


def line(title: str, latencies: list[float], statuses: Counter[int]) -> str:
    return (
        f"  {title}: {len(latencies)} deliveries, latency ms p50 "
        f"{percentile(latencies, 50):.1f}  p99 {percentile(latencies, 99):.1f}  max "
        f"{max(latencies):.1f}; answers {dict(sorted(statuses.items()))}"
    )


async def main(args: argparse.Namespace) -> None:
    total = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory(prefix="webhook-abuse-") as state:
        child = await python_child(__file__, "--serve", state)
        assert child.stdout is not None
        try:
            url = json.loads(await child.stdout.readline())["hook_url"]
            now = datetime.now(UTC)
            warm = deliveries(args.senders * 2, args.ids, now - timedelta(days=3))
            await valid_senders(url, warm, args.senders, args.rate, args.keap_ips)
            alone = await valid_senders(
                url,
                deliveries(total // 2, args.ids, now - timedelta(days=2)),
                args.senders,
                args.rate,
                args.keap_ips,
            )
            crowd = await python_child(
                __file__,
                "--attack",
                url,
                f"--attackers={args.attackers}",
                f"--attacker-ips={args.attacker_ips}",
                f"--attack-rate={args.attack_rate}",
            )
            assert crowd.stdout is not None
            await crowd.stdout.readline()  # under way
            await asyncio.sleep(1.0)  # the crowd at full strength first
            abused = await valid_senders(
                url,
                deliveries(total, args.ids, now - timedelta(days=1)),
                args.senders,
                args.rate,
                args.keap_ips,
            )
            crowd.send_signal(signal.SIGTERM)
            bad = Counter({int(k): v for k, v in json.loads(await crowd.stdout.readline()).items()})
            await crowd.wait()
        finally:
            child.send_signal(signal.SIGTERM)
        status = json.loads(await child.stdout.readline() or b"{}")
        await child.wait()
    pace = f"{args.attack_rate:.0f}/s in total" if args.attack_rate else "as fast as answered"
    print(
        f"webhook abuse: {args.senders} senders of valid deliveries ({args.rate:.0f}/s in total, "
        f"from {args.keap_ips} Keap addresses) while {args.attackers} senders send bad tokens "
        f"({pace}, from {args.attacker_ips} addresses)"
    )
    print(
        "  (runtime with wrangler.toml's rate limits in one process, the valid senders in "
        "another, the bad ones in a third)"
    )
    print(line("valid alone (floor)", *alone))
    print(line("valid under abuse  ", *abused))
    bad_total, took = sum(bad.values()), args.seconds + 1.0
    print(
        f"  bad-token senders: {bad_total} answered (~{bad_total / took:.0f}/s), by status "
        f"{dict(sorted(bad.items()))}"
    )
    p99 = percentile(abused[0], 99)
    verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
    ratio = p99 / max(percentile(alone[0], 99), 0.001)
    print(
        f"  p99 under abuse {p99:.1f} ms: target < {TARGET_P99_MS:.0f} ms {verdict}; "
        f"{ratio:.1f}x the floor's p99"
    )
    if status:
        totals = status.get("totals", {})
        print(
            f"  queue afterwards: received {totals.get('received')}, applied "
            f"{totals.get('applied')}, still queued {status.get('depth')}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--attackers", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0, help="valid deliveries/s in total")
    parser.add_argument("--ids", type=int, default=10, help="events per valid delivery")
    parser.add_argument("--keap-ips", type=int, default=10)
    parser.add_argument("--attacker-ips", type=int, default=100)
    parser.add_argument(
        "--attack-rate", type=float, default=1000, help="bad requests/s in total; 0: unpaced"
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--attack", help=argparse.SUPPRESS)
    cli = parser.parse_args()
    if cli.attack:
        asyncio.run(attack(cli))
    elif cli.serve:
        asyncio.run(serve(cli.serve, drain=True, keap_in_process=False, lift_limits=False))
    else:
        asyncio.run(main(cli))
