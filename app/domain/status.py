"""Status resolution: an email's status is the maximum of its events by rank.

Everything here is pure. `summarize` folds a set of new events into a `Delta`; `merge`
combines a delta with an email's stored state. Both are commutative and idempotent over
deduplicated events, which is why any arrival order gives the same answer. The webhook
repository runs the same `merge` as one SQL UPDATE; tests check the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Protocol

from app.domain.events import EventKind, FailureCategory, NormalizedEvent


class Status(StrEnum):
    SENT = "sent"
    DELAYED = "delayed"
    DELIVERED = "delivered"
    OPENED = "opened"
    BOUNCED = "bounced"
    DROPPED = "dropped"


class Rank(IntEnum):
    """Higher wins. Soft bounces lose to delivery; hard bounces beat it (async bounces)."""

    NONE = 0
    SENT = 10
    DELAYED = 20
    SOFT_BOUNCED = 30
    DELIVERED = 40
    OPENED = 50
    BOUNCED = 60
    DROPPED = 70


STATUS_BY_RANK: dict[Rank, Status] = {
    Rank.NONE: Status.SENT,
    Rank.SENT: Status.SENT,
    Rank.DELAYED: Status.DELAYED,
    Rank.SOFT_BOUNCED: Status.BOUNCED,
    Rank.DELIVERED: Status.DELIVERED,
    Rank.OPENED: Status.OPENED,
    Rank.BOUNCED: Status.BOUNCED,
    Rank.DROPPED: Status.DROPPED,
}

# Ranks a status filter matches (a soft and a hard bounce are both "bounced").
RANKS_BY_STATUS: dict[Status, tuple[int, ...]] = {
    status: tuple(int(r) for r, s in STATUS_BY_RANK.items() if s is status and r)
    for status in Status
}
RANKS_BY_STATUS[Status.SENT] = (int(Rank.SENT),)

_RANK_BY_KIND: dict[EventKind, Rank] = {
    EventKind.ACCEPTED: Rank.SENT,
    EventKind.DEFERRED: Rank.DELAYED,
    EventKind.SOFT_BOUNCE: Rank.SOFT_BOUNCED,
    EventKind.DELIVERED: Rank.DELIVERED,
    # A complaint or an unsubscribe needs the email in the inbox: delivery evidence.
    EventKind.COMPLAINED: Rank.DELIVERED,
    EventKind.UNSUBSCRIBED: Rank.DELIVERED,
    EventKind.OPENED: Rank.OPENED,
    EventKind.CLICKED: Rank.OPENED,
    EventKind.HARD_BOUNCE: Rank.BOUNCED,
    EventKind.DROPPED: Rank.DROPPED,
    EventKind.RESUBSCRIBED: Rank.NONE,
    EventKind.UNKNOWN: Rank.NONE,
}


def rank_of(kind: EventKind, *, machine: bool = False) -> Rank:
    """A machine open or click (privacy proxy, link scanner) proves delivery, not a reader."""
    if machine and kind in (EventKind.OPENED, EventKind.CLICKED):
        return Rank.DELIVERED
    return _RANK_BY_KIND[kind]


def is_failure(rank: int) -> bool:
    return rank in (Rank.SOFT_BOUNCED, Rank.BOUNCED, Rank.DROPPED)


@dataclass(frozen=True, slots=True)
class Candidate:
    """The event that decides the status. Ties: the earlier event, then the smaller key."""

    rank: int
    at: datetime
    key: str  # "" for the registration itself, which wins ties at the same instant
    reason: str | None = None
    smtp_status: str | None = None
    category: str | None = None

    def beats(self, other: Candidate) -> bool:
        if self.rank != other.rank:
            return self.rank > other.rank
        if self.at != other.at:
            return self.at < other.at
        return self.key < other.key


def _least(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _greatest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass(frozen=True, slots=True)
class Delta:
    """What a set of events adds to an email. Combining deltas is associative and commutative."""

    best: Candidate | None = None
    event_count: int = 0
    open_count: int = 0
    machine_open_count: int = 0
    first_opened_at: datetime | None = None
    last_opened_at: datetime | None = None
    click_count: int = 0
    first_clicked_at: datetime | None = None
    complained_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    resubscribed_at: datetime | None = None
    last_event_at: datetime | None = None

    def combine(self, other: Delta) -> Delta:
        best = self.best
        if other.best is not None and (best is None or other.best.beats(best)):
            best = other.best
        return Delta(
            best=best,
            event_count=self.event_count + other.event_count,
            open_count=self.open_count + other.open_count,
            machine_open_count=self.machine_open_count + other.machine_open_count,
            first_opened_at=_least(self.first_opened_at, other.first_opened_at),
            last_opened_at=_greatest(self.last_opened_at, other.last_opened_at),
            click_count=self.click_count + other.click_count,
            first_clicked_at=_least(self.first_clicked_at, other.first_clicked_at),
            complained_at=_least(self.complained_at, other.complained_at),
            unsubscribed_at=_greatest(self.unsubscribed_at, other.unsubscribed_at),
            resubscribed_at=_greatest(self.resubscribed_at, other.resubscribed_at),
            last_event_at=_greatest(self.last_event_at, other.last_event_at),
        )


class EventFacts(Protocol):
    """What the fold needs of an event (a NormalizedEvent, or a row read back from the table)."""

    @property
    def kind(self) -> EventKind: ...
    @property
    def machine(self) -> bool: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def dedupe_key(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def smtp_status(self) -> str | None: ...
    @property
    def failure_category(self) -> FailureCategory | str | None: ...


def delta_of(event: EventFacts) -> Delta:
    """The contribution of a single event."""
    rank = rank_of(event.kind, machine=event.machine)
    at = event.occurred_at
    best = None
    if rank is not Rank.NONE:
        best = Candidate(
            rank=int(rank),
            at=at,
            key=event.dedupe_key,
            reason=event.reason,
            smtp_status=event.smtp_status,
            category=str(event.failure_category) if event.failure_category else None,
        )
    kind = event.kind
    human_open = kind is EventKind.OPENED and not event.machine
    human_click = kind is EventKind.CLICKED and not event.machine
    return Delta(
        best=best,
        event_count=1,
        open_count=int(human_open),
        machine_open_count=int(kind is EventKind.OPENED and event.machine),
        first_opened_at=at if human_open else None,
        last_opened_at=at if human_open else None,
        click_count=int(human_click),
        first_clicked_at=at if human_click else None,
        complained_at=at if kind is EventKind.COMPLAINED else None,
        unsubscribed_at=at if kind is EventKind.UNSUBSCRIBED else None,
        resubscribed_at=at if kind is EventKind.RESUBSCRIBED else None,
        last_event_at=at,
    )


def summarize(events: Iterable[EventFacts]) -> Delta:
    """The combined delta of many events: equal to combining `delta_of` each one (a test
    checks that), in one pass without the intermediate objects, as batches are hot."""
    best: Candidate | None = None
    count = opens = machine_opens = clicks = 0
    first_open = last_open = first_click = complained = unsubscribed = resubscribed = None
    last_event: datetime | None = None
    for event in events:
        count += 1
        at = event.occurred_at
        kind = event.kind
        machine = event.machine
        rank = rank_of(kind, machine=machine)
        if rank and (
            best is None
            or rank > best.rank
            or (
                rank == best.rank
                and (at < best.at or (at == best.at and event.dedupe_key < best.key))
            )
        ):
            category = event.failure_category
            best = Candidate(
                rank=int(rank),
                at=at,
                key=event.dedupe_key,
                reason=event.reason,
                smtp_status=event.smtp_status,
                category=str(category) if category else None,
            )
        if kind is EventKind.OPENED:
            if machine:
                machine_opens += 1
            else:
                opens += 1
                first_open = at if first_open is None or at < first_open else first_open
                last_open = at if last_open is None or at > last_open else last_open
        elif kind is EventKind.CLICKED and not machine:
            clicks += 1
            first_click = at if first_click is None or at < first_click else first_click
        elif kind is EventKind.COMPLAINED:
            complained = at if complained is None or at < complained else complained
        elif kind is EventKind.UNSUBSCRIBED:
            unsubscribed = at if unsubscribed is None or at > unsubscribed else unsubscribed
        elif kind is EventKind.RESUBSCRIBED:
            resubscribed = at if resubscribed is None or at > resubscribed else resubscribed
        last_event = at if last_event is None or at > last_event else last_event
    return Delta(
        best=best,
        event_count=count,
        open_count=opens,
        machine_open_count=machine_opens,
        first_opened_at=first_open,
        last_opened_at=last_open,
        click_count=clicks,
        first_clicked_at=first_click,
        complained_at=complained,
        unsubscribed_at=unsubscribed,
        resubscribed_at=resubscribed,
        last_event_at=last_event,
    )


@dataclass(frozen=True, slots=True)
class EmailState:
    """The folded state stored on an email row."""

    status: Candidate
    counters: Delta

    @classmethod
    def registered(cls, sent_at: datetime) -> EmailState:
        return cls(status=Candidate(rank=int(Rank.SENT), at=sent_at, key=""), counters=Delta())

    def merge(self, delta: Delta) -> EmailState:
        status = self.status
        if delta.best is not None and delta.best.beats(status):
            status = delta.best
        return EmailState(status=status, counters=replace(self.counters.combine(delta), best=None))

    @property
    def status_name(self) -> Status:
        return STATUS_BY_RANK[Rank(self.status.rank)]


def resolve(sent_at: datetime, events: Iterable[NormalizedEvent]) -> EmailState:
    """The state of a registered email after a set of distinct events, in any order."""
    return EmailState.registered(sent_at).merge(summarize(events))
