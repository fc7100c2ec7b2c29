"""Hot paths are set-based: a 1,000-event batch costs a handful of statements, not 1,000."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import event

from tests.fixtures.factories import email_payload, sg_event, sg_message_id, unique


@contextlib.contextmanager
def counting(engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_a_thousand_event_batch_is_a_handful_of_statements(
    app, client, service_headers, post_sendgrid
):
    emails = [
        email_payload(
            recipient=f"p{i}@example.com",
            provider_message_id=sg_message_id(),
            external_id=unique("n"),
        )
        for i in range(300)
    ]
    registered = (
        await client.post("/v1/emails/batch", json={"emails": emails}, headers=service_headers)
    ).json()["items"]
    kinds = ["processed", "delivered", "open"]
    batch = [
        sg_event(
            kinds[i % 3],
            emails[i % 300]["recipient"],
            landed_email_id=registered[i % 300]["id"],
            timestamp=1_764_000_000 + i,
        )
        for i in range(900)
    ]
    # 90 events for emails registered by message id only, 10 for nobody known (unmatched).
    batch += [
        sg_event("delivered", e["recipient"], sg_message_id=f"{e['provider_message_id']}.f")
        for e in emails[:90]
    ]
    batch += [
        sg_event("bounce", f"ghost{i}@example.com", sg_message_id=f"{sg_message_id()}.f")
        for i in range(10)
    ]
    batch += [{"event": "delivered"}]  # one to quarantine
    with counting(app.state.engine) as statements:
        response = await post_sendgrid(batch)
    assert response.status_code == 200
    assert response.json()["stored"] == 1000
    assert response.json()["unmatched"] == 10
    work = [s for s in statements if s not in ("BEGIN", "COMMIT", "ROLLBACK")]
    # insert+match, advisory locks, re-match, lock emails, merge, quarantine
    assert len(work) <= 6, statements


async def test_registering_ten_thousand_emails_is_a_handful_of_statements(
    app, client, service_headers
):
    emails = [
        email_payload(
            recipient=f"b{i}@example.com",
            provider_message_id=sg_message_id(),
            external_id=f"blast-{i}",
            type="email_blast",
        )
        for i in range(10_000)
    ]
    with counting(app.state.engine) as statements:
        response = await client.post(
            "/v1/emails/batch", json={"emails": emails}, headers=service_headers
        )
    assert response.status_code == 201
    work = [s for s in statements if s not in ("BEGIN", "COMMIT", "ROLLBACK")]
    assert len(work) <= 6, statements
