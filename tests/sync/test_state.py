"""The incremental state of each kind of stream: where a pass starts, moves and ends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shared.keap.streams import STREAMS
from shared.sync.paginator import read_page
from shared.sync.state import StreamState

CONTACTS, COMPANIES, OPPORTUNITIES = (
    STREAMS["contacts"],
    STREAMS["companies"],
    STREAMS["opportunities"],
)


def page(spec_name: str, items: list[tuple[int, str]], token: str | None = None):  # type: ignore[no-untyped-def]
    spec = STREAMS[spec_name]
    body: dict[str, object] = {
        spec.items_key: [{"id": str(i), spec.cursor_field: t} for i, t in items]
    }
    if token:
        body["next_page_token"] = token
    return read_page(spec, json.dumps(body))


def test_ascending_stream_reads_from_the_cursor_minus_the_overlap() -> None:
    state = StreamState.from_json(CONTACTS, {"cursor": "2025-01-01T00:10:00.000Z"}, 300)
    state.begin()

    params, token = state.request()

    assert params["filter"] == "start_update_time==2025-01-01T00:05:00.000Z"
    assert params["order_by"] == "update_time asc"
    assert params["page_size"] == 1000 and "custom_fields" in params["fields"]
    assert token is None


def test_a_first_sync_reads_everything() -> None:
    state = StreamState.from_json(CONTACTS, None)
    state.begin()

    params, _ = state.request()

    assert "filter" not in params


def test_an_interrupted_ascending_pass_resumes_from_the_newest_record_written() -> None:
    state = StreamState.from_json(CONTACTS, None)
    state.begin()
    state.advance(
        page("contacts", [(1, "2025-01-01T00:00:00.000Z"), (2, "2025-02-01T00:00:00.000Z")], "t")
    )

    resumed = StreamState.from_json(CONTACTS, json.loads(json.dumps(state.to_json())))
    resumed.begin()  # a pass is open: this does not restart it
    params, token = resumed.request()

    assert params["filter"] == "start_update_time==2025-02-01T00:00:00.000Z"
    assert token is None
    assert resumed.cursor is None
    resumed.finish()
    assert resumed.cursor == "2025-02-01T00:00:00.000Z"
    assert "pass" not in resumed.to_json()


def test_the_cursor_never_moves_back() -> None:
    state = StreamState.from_json(CONTACTS, {"cursor": "2025-05-01T00:00:00.000Z"}, 300)
    state.begin()
    state.advance(page("contacts", [(1, "2025-04-30T23:58:00.000Z")]))
    state.finish()

    assert state.cursor == "2025-05-01T00:00:00.000Z"


def test_id_ordered_stream_keeps_its_time_bound_and_resumes_after_the_last_id() -> None:
    state = StreamState.from_json(COMPANIES, {"cursor": "2025-01-01T00:00:00.000Z"}, 60)
    started = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    state.begin(now=started)
    state.advance(
        page("companies", [(4, "2025-02-01T00:00:00.000Z"), (9, "2025-01-05T00:00:00.000Z")])
    )

    resumed = StreamState.from_json(COMPANIES, state.to_json(), 60)
    params, _ = resumed.request()

    assert params["filter"] == "since_time==2024-12-31T23:59:00.000Z;company_id>9"
    assert params["order_by"] == "id asc"
    resumed.finish()
    # Records edited behind the pass are newer than its start: that is the new cursor.
    assert resumed.cursor == "2025-03-01T11:59:00.000Z"


def test_descending_stream_stops_at_the_old_cursor_and_keeps_its_position() -> None:
    state = StreamState.from_json(OPPORTUNITIES, {"cursor": "2025-01-10T00:00:00.000Z"}, 0)
    state.begin()
    params, token = state.request()
    assert params["order_by"] == "update_time desc" and "filter" not in params and token is None

    newest = page(
        "opportunities", [(5, "2025-03-01T00:00:00.000Z"), (3, "2025-02-01T00:00:00.000Z")], "p2"
    )
    assert not state.ends_with(newest, exhausted=False)
    state.advance(newest)
    resumed = StreamState.from_json(OPPORTUNITIES, state.to_json(), 0)
    assert resumed.request()[1] == "p2"  # Keap's position in the list

    older = page(
        "opportunities", [(8, "2025-01-20T00:00:00.000Z"), (1, "2025-01-01T00:00:00.000Z")], "p3"
    )
    assert resumed.ends_with(older, exhausted=False)  # reached what the last pass wrote
    resumed.advance(older)
    resumed.finish()
    assert resumed.cursor == "2025-03-01T00:00:00.000Z"
    assert resumed.to_json()["cursor"] == "2025-03-01T00:00:00.000Z"


def test_a_refused_page_token_restarts_the_pass_but_keeps_its_high_water_mark() -> None:
    state = StreamState.from_json(OPPORTUNITIES, None)
    state.begin()
    state.advance(page("opportunities", [(5, "2025-03-01T00:00:00.000Z")], "p2"))

    state.restart_pass()

    assert state.request()[1] is None
    state.finish()
    assert state.cursor == "2025-03-01T00:00:00.000Z"
