"""Cron triggers as Cloudflare reads them, for the local runtime's timers.

Cloudflare takes five fields in UTC with Quartz-style weekdays: 1-7 is Sunday to Saturday
(`0 17 * * 1` is 5 PM on Sunday, `10 7 * * 2-6` is weekdays), names (`MON`, `fri`) and the
`L`, `W` and `#` extensions. The schedule itself is computed by cronsim, which counts
weekdays the classic way (0-6 from Sunday): only the weekday numbers are translated.
"""

from __future__ import annotations

import re
from datetime import datetime

from cronsim import CronSim

_NUMBER = re.compile(r"\d+")


def to_classic(expression: str) -> str:
    """`expression` with Cloudflare's weekday numbers (1 = Sunday) in classic cron's (0)."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"cron {expression!r} must have five fields")

    def shift(match: re.Match[str]) -> str:
        day = int(match.group())
        if not 1 <= day <= 7:
            raise ValueError(f"cron {expression!r}: weekdays are 1-7 (1 = Sunday)")
        return str(day - 1)

    weekday = fields[4]
    if "#" in weekday:  # `6#3`: only the part before `#` is a weekday
        day, _, nth = weekday.partition("#")
        fields[4] = _NUMBER.sub(shift, day) + "#" + nth
    else:
        fields[4] = _NUMBER.sub(shift, weekday)
    return " ".join(fields)


def next_fire(expression: str, after: datetime) -> datetime:
    """The first minute strictly after `after` (naive UTC) at which `expression` fires."""
    # cronsim yields the matches strictly after its start (a whole minute here).
    return next(CronSim(to_classic(expression), after.replace(second=0, microsecond=0)))
