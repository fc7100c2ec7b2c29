"""Pure status resolution: ranks, tie-breaks, and order/duplication independence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.events import EventKind, FailureCategory, NormalizedEvent
from app.domain.status import (
    RANKS_BY_STATUS,
    Candidate,
    Delta,
    EmailState,
    Rank,
    Status,
    delta_of,
    rank_of,
    resolve,
    summarize,
)

T0 = datetime(2025, 11, 24, 16, 0, tzinfo=UTC)


def ev(
    kind: EventKind,
    seconds: int = 0,
    key: str | None = None,
    *,
    machine: bool = False,
    reason: str | None = None,
) -> NormalizedEvent:
    return NormalizedEvent(
        provider="test",
        dedupe_key=key or f"{kind}-{seconds}-{machine}",
        kind=kind,
        provider_event_type=str(kind),
        occurred_at=T0 + timedelta(seconds=seconds),
        recipient="a@example.com",
        machine=machine,
        reason=reason,
        failure_category=FailureCategory.INVALID_ADDRESS if kind is EventKind.HARD_BOUNCE else None,
    )


@pytest.mark.parametrize(
    ("kind", "machine", "rank"),
    [
        (EventKind.ACCEPTED, False, Rank.SENT),
        (EventKind.DEFERRED, False, Rank.DELAYED),
        (EventKind.SOFT_BOUNCE, False, Rank.SOFT_BOUNCED),
        (EventKind.DELIVERED, False, Rank.DELIVERED),
        (EventKind.OPENED, True, Rank.DELIVERED),
        (EventKind.COMPLAINED, False, Rank.DELIVERED),
        (EventKind.UNSUBSCRIBED, False, Rank.DELIVERED),
        (EventKind.OPENED, False, Rank.OPENED),
        (EventKind.CLICKED, False, Rank.OPENED),
        (EventKind.CLICKED, True, Rank.DELIVERED),
        (EventKind.HARD_BOUNCE, False, Rank.BOUNCED),
        (EventKind.DROPPED, False, Rank.DROPPED),
        (EventKind.RESUBSCRIBED, False, Rank.NONE),
        (EventKind.UNKNOWN, False, Rank.NONE),
    ],
)
def test_rank_table(kind, machine, rank):
    assert rank_of(kind, machine=machine) is rank


def test_precedence_order_of_the_design_card():
    assert Rank.DELIVERED < Rank.OPENED < Rank.BOUNCED < Rank.DROPPED
    assert Rank.SENT < Rank.DELAYED < Rank.SOFT_BOUNCED < Rank.DELIVERED


@pytest.mark.parametrize(
    ("events", "status"),
    [
        ([], Status.SENT),
        ([ev(EventKind.ACCEPTED)], Status.SENT),
        ([ev(EventKind.DEFERRED, 5)], Status.DELAYED),
        ([ev(EventKind.SOFT_BOUNCE, 5), ev(EventKind.DELIVERED, 1)], Status.DELIVERED),
        ([ev(EventKind.DELIVERED, 1), ev(EventKind.HARD_BOUNCE, 9)], Status.BOUNCED),
        ([ev(EventKind.HARD_BOUNCE, 1), ev(EventKind.OPENED, 9)], Status.BOUNCED),
        ([ev(EventKind.OPENED, 9, machine=True)], Status.DELIVERED),
        ([ev(EventKind.DROPPED, 0), ev(EventKind.HARD_BOUNCE, 9)], Status.DROPPED),
        ([ev(EventKind.UNKNOWN, 3)], Status.SENT),
    ],
)
def test_resolution_table(events, status):
    assert resolve(T0, events).status_name is status


def test_equal_rank_keeps_the_earliest_event():
    state = resolve(T0, [ev(EventKind.OPENED, 90), ev(EventKind.OPENED, 30)])
    assert state.status.at == T0 + timedelta(seconds=30)


def test_equal_rank_and_time_breaks_ties_by_key():
    a = ev(EventKind.HARD_BOUNCE, 5, key="a", reason="first")
    b = ev(EventKind.HARD_BOUNCE, 5, key="b", reason="second")
    assert resolve(T0, [b, a]).status.reason == "first"
    assert resolve(T0, [a, b]).status.reason == "first"


def test_registration_wins_ties_with_accepted_at_the_same_instant():
    state = resolve(T0, [ev(EventKind.ACCEPTED, 0, key="k")])
    assert state.status.key == ""


def test_counters():
    delta = summarize(
        [
            ev(EventKind.OPENED, 50),
            ev(EventKind.OPENED, 10),
            ev(EventKind.OPENED, 5, machine=True),
            ev(EventKind.CLICKED, 60),
            ev(EventKind.COMPLAINED, 70),
            ev(EventKind.UNSUBSCRIBED, 80),
            ev(EventKind.RESUBSCRIBED, 90),
        ]
    )
    assert (delta.open_count, delta.machine_open_count, delta.click_count) == (2, 1, 1)
    assert delta.first_opened_at == T0 + timedelta(seconds=10)
    assert delta.last_opened_at == T0 + timedelta(seconds=50)
    assert delta.complained_at == T0 + timedelta(seconds=70)
    assert delta.resubscribed_at == T0 + timedelta(seconds=90)
    assert delta.event_count == 7


def test_status_filter_ranks():
    assert set(RANKS_BY_STATUS[Status.BOUNCED]) == {Rank.SOFT_BOUNCED, Rank.BOUNCED}
    assert RANKS_BY_STATUS[Status.SENT] == (Rank.SENT,)


kinds = st.sampled_from(list(EventKind))
events = st.builds(
    lambda kind, seconds, machine, key: ev(kind, seconds, key=f"{key}", machine=machine),
    kinds,
    st.integers(0, 5),
    st.booleans(),
    st.integers(0, 50),
)


@given(st.lists(events, max_size=15), st.randoms())
def test_any_permutation_gives_the_same_state(items, rnd):
    unique = list({e.dedupe_key: e for e in items}.values())
    shuffled = unique[:]
    rnd.shuffle(shuffled)
    assert resolve(T0, unique) == resolve(T0, shuffled)


@given(st.lists(events, max_size=15), st.randoms())
def test_merging_in_any_grouping_gives_the_same_state(items, rnd):
    """Batches folded one by one (as separate requests would) equal one big fold."""
    unique = list({e.dedupe_key: e for e in items}.values())
    rnd.shuffle(unique)
    state = EmailState.registered(T0)
    i = 0
    while i < len(unique):
        size = rnd.randint(1, 4)
        state = state.merge(summarize(unique[i : i + size]))
        i += size
    assert state == resolve(T0, unique)


@given(st.lists(events, max_size=8), st.lists(events, max_size=8), st.lists(events, max_size=8))
def test_delta_combine_is_associative_and_commutative(a, b, c):
    da, db, dc = summarize(a), summarize(b), summarize(c)
    assert da.combine(db) == db.combine(da)
    assert da.combine(db).combine(dc) == da.combine(db.combine(dc))
    assert Delta().combine(da) == da


def test_candidate_beats():
    low = Candidate(rank=40, at=T0, key="z")
    assert Candidate(rank=50, at=T0 + timedelta(days=1), key="z").beats(low)
    assert Candidate(rank=40, at=T0 - timedelta(seconds=1), key="z").beats(low)
    assert Candidate(rank=40, at=T0, key="a").beats(low)
    assert not low.beats(low)


def test_delta_of_unknown_has_no_candidate():
    assert delta_of(ev(EventKind.UNKNOWN)).best is None


@given(st.lists(events, max_size=20))
def test_one_pass_summary_equals_combining_single_deltas(items):
    unique = list({e.dedupe_key: e for e in items}.values())
    combined = Delta()
    for event in unique:
        combined = combined.combine(delta_of(event))
    assert summarize(unique) == combined
