"""Any arrival order, any split into requests, any number of repeats: one final state.

Hypothesis generates real SendGrid event mixes for one email and delivers them over HTTP in a
random order, split into random batches, with random duplicates. The stored result must equal
(a) the pure domain resolution and (b) the result of delivering them once, in order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.status import is_failure, resolve
from app.providers.base import InboundRequest
from app.providers.sendgrid import SendGridAdapter
from tests.fixtures.factories import BASE_TS, sg_event, unique

SENT_AT = datetime(2025, 11, 24, 15, 59, tzinfo=UTC)
ADAPTER = SendGridAdapter([], tolerance_seconds=1, metadata_key="landed_email_id")

KINDS: list[tuple[str, dict[str, Any]]] = [
    ("processed", {}),
    ("deferred", {}),
    ("delivered", {}),
    ("open", {"sg_machine_open": False}),
    ("open", {"sg_machine_open": True}),
    ("click", {}),
    ("bounce", {"type": "bounce"}),
    ("bounce", {"type": "blocked", "reason": "451 4.7.1 greylisted", "status": "4.7.1"}),
    ("dropped", {"reason": "Spam Reporting Address"}),
    ("spamreport", {}),
    ("unsubscribe", {}),
    ("group_resubscribe", {}),
    ("something_new", {}),
]

# Few distinct offsets, so equal-rank events often share a timestamp (the tie-break matters).
event_spec = st.tuples(st.integers(0, len(KINDS) - 1), st.sampled_from([0, 1, 1, 2, 30, 3600]))


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[tuple[int, int]], list[list[int]]]:
    specs = draw(st.lists(event_spec, min_size=1, max_size=10))
    n = len(specs)
    order = draw(st.permutations(range(n)))
    repeats = draw(st.lists(st.integers(0, n - 1), max_size=6))
    stream = list(order) + repeats
    stream = draw(st.permutations(stream))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=4)))
    batches, start = [], 0
    for cut in [*cuts, len(stream)]:
        if cut > start:
            batches.append(stream[start:cut])
            start = cut
    return specs, batches


def build_events(email_id: str, specs: list[tuple[int, int]]) -> list[dict[str, Any]]:
    events = []
    for kind_index, offset in specs:
        kind, extra = KINDS[kind_index]
        events.append(sg_event(kind, landed_email_id=email_id, timestamp=BASE_TS + offset, **extra))
    return events


def observable(email: dict[str, Any]) -> dict[str, Any]:
    return {k: email[k] for k in ("status", "bounce_type", "status_at", "badge", "flags")}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=deliveries())
async def test_any_order_and_duplication_gives_one_state(register, post_sendgrid, get_email, plan):
    specs, batches = plan
    shuffled = await register(external_id=unique("ext"), sent_at=SENT_AT.isoformat())
    reference = await register(external_id=unique("ext"), sent_at=SENT_AT.isoformat())
    shuffled_events = build_events(shuffled["id"], specs)
    reference_events = build_events(reference["id"], specs)

    for batch in batches:
        response = await post_sendgrid([shuffled_events[i] for i in batch])
        assert response.status_code == 200, response.text
    response = await post_sendgrid(reference_events)
    assert response.json()["stored"] == len(specs)

    got = await get_email(shuffled["id"])
    expected = await get_email(reference["id"])
    assert observable(got) == observable(expected)
    assert len(got["events"]) == len(specs)
    # And both agree with the pure domain fold over the same events.
    parsed = ADAPTER.parse(InboundRequest(raw=orjson.dumps(shuffled_events), headers={}))
    state = resolve(SENT_AT, parsed.events)
    assert got["status"] == state.status_name
    assert datetime.fromisoformat(got["status_at"]) == state.status.at
    assert got["flags"]["machine_open_count"] == state.counters.machine_open_count
    if not is_failure(state.status.rank):
        assert got["flags"]["open_count"] == state.counters.open_count
        assert got["flags"]["click_count"] == state.counters.click_count
