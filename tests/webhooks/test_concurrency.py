"""Real concurrent requests (separate pooled connections) must end in one correct state."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from app.domain.events import EventKind
from app.resolution import StoredEvent, fold_events
from tests.fixtures.factories import BASE_TS, email_payload, sg_event, sg_message_id, unique


async def test_same_batch_twice_at_once(app, register, post_sendgrid, get_email):
    email = await register()
    batch = [
        sg_event("delivered", landed_email_id=email["id"], timestamp=BASE_TS + 1),
        sg_event("open", landed_email_id=email["id"], timestamp=BASE_TS + 9),
        sg_event("click", landed_email_id=email["id"], timestamp=BASE_TS + 10),
    ]
    answers = await asyncio.gather(*(post_sendgrid(batch) for _ in range(6)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sum(a.json()["stored"] for a in answers) == 3
    assert sum(a.json()["duplicates"] for a in answers) == 15
    got = await get_email(email["id"])
    assert got["status"] == "opened"
    assert got["flags"]["open_count"] == 1
    assert got["flags"]["click_count"] == 1


async def test_two_requests_for_the_same_new_email_at_once(register, post_sendgrid, get_email):
    for _ in range(10):
        email = await register(external_id=unique("ext"))
        first = [sg_event("delivered", landed_email_id=email["id"], timestamp=BASE_TS + 1)]
        second = [
            sg_event("open", landed_email_id=email["id"], timestamp=BASE_TS + 50),
            sg_event("open", landed_email_id=email["id"], timestamp=BASE_TS + 70),
        ]
        answers = await asyncio.gather(post_sendgrid(first), post_sendgrid(second))
        assert [a.status_code for a in answers] == [200, 200]
        got = await get_email(email["id"])
        assert got["status"] == "opened"
        assert got["flags"]["open_count"] == 2
        assert len(got["events"]) == 3


async def test_registration_racing_its_events_always_adopts_them(
    client, service_headers, post_sendgrid, get_email
):
    """The event may commit just before, during or after the registration: never lost."""
    for i in range(25):
        message_id = sg_message_id()
        events = [sg_event("delivered", sg_message_id=f"{message_id}.filter{i}")]
        payload = email_payload(provider_message_id=message_id, external_id=unique("ext"))
        registration = client.post("/v1/emails", json=payload, headers=service_headers)
        delivery = post_sendgrid(events)
        if i % 2:
            registration, delivery = delivery, registration
        first, second = await asyncio.gather(registration, delivery)
        registered = first if first.request.url.path == "/v1/emails" else second
        assert registered.status_code == 201
        got = await get_email(registered.json()["id"])
        assert got["status"] == "delivered", f"iteration {i}: event lost"
        assert len(got["events"]) == 1


async def test_overlapping_batches_in_opposite_orders_do_not_deadlock(
    app, client, service_headers, post_sendgrid
):
    emails = []
    for _ in range(40):
        response = await client.post(
            "/v1/emails", json=email_payload(external_id=unique("e")), headers=service_headers
        )
        emails.append(response.json()["id"])
    rng = random.Random(7)
    batches = []
    for b in range(6):
        order = emails[:]
        rng.shuffle(order)
        batches.append(
            [
                sg_event(
                    rng.choice(["delivered", "open", "click", "deferred"]),
                    landed_email_id=e,
                    timestamp=BASE_TS + b,
                )
                for e in order
            ]
        )
    answers = await asyncio.gather(*(post_sendgrid(b) for b in batches))
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    async with app.state.engine.connect() as conn:
        total = (await conn.execute(text("SELECT sum(event_count) FROM emails"))).scalar_one()
    assert total == 6 * 40


@pytest.mark.parametrize("first_kind", [EventKind.DELIVERED, EventKind.OPENED])
async def test_a_fold_that_waited_for_another_merges_with_it(app, register, get_email, first_kind):
    """Two transactions fold into one email: the second waits for the first's row lock, then
    merges with what it committed (never overwrites it), whichever event comes first."""
    email = await register()
    email_id = uuid.UUID(email["id"])
    at = datetime.fromtimestamp(BASE_TS + 10, tz=UTC)

    def stored(kind: EventKind, key: str) -> StoredEvent:
        return StoredEvent(email_id, key, kind, at, False, None, None, None)

    second_kind = EventKind.OPENED if first_kind is EventKind.DELIVERED else EventKind.DELIVERED
    async with app.state.sessionmaker() as first, app.state.sessionmaker() as second:
        await fold_events(first, [(email_id, stored(first_kind, "k1"))])

        async def fold_second() -> None:
            await fold_events(second, [(email_id, stored(second_kind, "k2"))])
            await second.commit()

        waiting = asyncio.create_task(fold_second())
        await asyncio.sleep(0.3)
        assert not waiting.done()  # blocked on the row lock the first fold holds
        await first.commit()
        await waiting
    got = await get_email(email["id"])
    assert got["status"] == "opened"
    assert got["flags"]["open_count"] == 1
    assert got["status_at"] == at.isoformat().replace("+00:00", "Z")


async def test_an_event_stored_while_its_registration_is_uncommitted_is_not_lost(
    app, client, service_headers, post_sendgrid, get_email, monkeypatch
):
    """The worst interleaving, forced: the registration has inserted its email (not yet
    committed, so ingestion cannot see it) when the event is stored unmatched. The event's
    shared match lock then waits for the registration's commit, and re-matching adopts it."""
    from app.emails import repository

    inserted, proceed = asyncio.Event(), asyncio.Event()
    original = repository.insert_emails

    async def insert_then_pause(session, emails):
        created = await original(session, emails)
        inserted.set()
        await proceed.wait()
        return created

    monkeypatch.setattr(repository, "insert_emails", insert_then_pause)
    message_id = sg_message_id()
    payload = email_payload(provider_message_id=message_id, external_id=unique("ext"))
    registration = asyncio.create_task(
        client.post("/v1/emails", json=payload, headers=service_headers)
    )
    await asyncio.wait_for(inserted.wait(), 10)
    delivery = asyncio.create_task(
        post_sendgrid([sg_event("delivered", sg_message_id=f"{message_id}.filter0")])
    )
    waiting_sql = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    for _ in range(200):  # until ingestion waits on the registration's match lock
        async with app.state.engine.connect() as conn:
            if await conn.scalar(waiting_sql):
                break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("ingestion never waited for the registration's lock")
    proceed.set()
    registered, delivered = await asyncio.gather(registration, delivery)
    assert registered.status_code == 201
    # Inserted unmatched, then matched again once the lock was granted.
    assert delivered.json() == {
        "received": 1,
        "stored": 1,
        "duplicates": 0,
        "unmatched": 0,
        "quarantined": 0,
    }
    got = await get_email(registered.json()["id"])
    assert got["status"] == "delivered"
