"""The one time module: the Keap date-times it reads, and the one spelling it writes.

What it reads is what Keap sends: v2 records (`2025-04-16T20:33:02.321Z`), hook
deliveries' `object_keys[].timestamp` (ISO 8601 date-times, `2016-06-13T21:46:22Z`), and
the `+0000` offsets Keap's spec shows for stage moves. What it writes (cursors, filters,
status, health, hook dedup keys) is Keap's filter form: UTC, milliseconds, `Z`.
"""

from __future__ import annotations

import pytest

from shared import timefmt

ONE_INSTANT = "2025-04-16T20:33:02.321Z"
EPOCH = 1744835582.0  # 2025-04-16T20:33:02Z


@pytest.mark.parametrize(
    "text",
    [
        "2025-04-16T20:33:02.321Z",  # v2 records
        "2025-04-16T20:33:02.321+00:00",
        "2025-04-16T20:33:02.321+0000",  # the spec's stage moves
        "2025-04-16T22:33:02.321+02:00",
        "2025-04-16T15:33:02.321-0500",
        "2025-04-16T20:33:02.321",  # no zone: UTC, as Keap documents its times
        "2025-04-16T20:33:02.321987654Z",  # more digits than milliseconds
    ],
)
def test_keaps_spellings_of_one_instant_read_as_that_instant(text: str) -> None:
    parsed = timefmt.parse(text)
    assert parsed is not None
    assert timefmt.keap(parsed) == ONE_INSTANT
    assert timefmt.normalize(f" {text} ") == ONE_INSTANT  # as a hook timestamp


def test_a_time_to_the_second_is_written_with_milliseconds() -> None:
    assert timefmt.normalize("2016-06-13T21:46:22Z") == "2016-06-13T21:46:22.000Z"


@pytest.mark.parametrize(
    "text",
    [
        "2025-04-16",  # a date is not a date-time
        "2025-04-16T20:33Z",  # no seconds
        "2025-04-16 20:33:02Z",  # not ISO 8601's `T`
        "2025-W16-3T20:33:02Z",  # a week date
        "20250416T203302Z",  # the basic format
        "2025-13-01T00:00:00Z",  # no such month
        "0001-01-01T00:00:00+05:00",  # before the calendar's first instant in UTC
        "9999-12-31T23:59:59-05:00",  # after its last
        "2025-04-16T20:33:02.321Z trailing",
        "yesterday",
        "",
    ],
)
def test_what_is_not_a_keap_date_time_is_refused(text: str) -> None:
    assert timefmt.parse(text) is None
    with pytest.raises(ValueError, match="ISO 8601 date-time"):
        timefmt.normalize(text)


@pytest.mark.parametrize("value", [None, 1744835582, 1744835582.5, ["2025-04-16T20:33:02Z"]])
def test_values_that_are_not_text_are_not_times(value: object) -> None:
    assert timefmt.parse(value) is None


def test_the_coordinators_epoch_seconds_are_written_in_the_one_spelling() -> None:
    assert timefmt.from_epoch(EPOCH) == "2025-04-16T20:33:02.000Z"
    assert timefmt.from_epoch(EPOCH + 0.25) == "2025-04-16T20:33:02.250Z"
    assert timefmt.from_epoch(None) is None
    assert timefmt.parse(timefmt.keap(timefmt.now())) is not None


def test_a_stored_time_moves_and_compares_in_any_spelling() -> None:
    assert timefmt.shift(ONE_INSTANT, -300) == "2025-04-16T20:28:02.321Z"
    assert timefmt.shift("2025-04-16T22:33:02.321+02:00", 1) == "2025-04-16T20:33:03.321Z"
    assert timefmt.later("2025-04-16T22:33:02.322+02:00", ONE_INSTANT)
    assert not timefmt.later(ONE_INSTANT, "2025-04-16T20:33:02.321+0000")
    assert timefmt.later(ONE_INSTANT, None)  # any time is after none
    assert not timefmt.later("2025-04-16", None)  # nor is what is no time
    with pytest.raises(ValueError, match="not a Keap time"):
        timefmt.shift("2025-04-16", 1)
