"""POST /v1/emails and /v1/emails/batch: validation, idempotency, set-based batches."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.fixtures.factories import email_payload, sg_event, sg_message_id, unique


async def test_register_one(client, service_headers):
    response = await client.post("/v1/emails", json=email_payload(), headers=service_headers)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "sent"
    assert body["created"] is True
    assert body["badge"]["label"] == "Sent"


async def test_sent_at_defaults_to_now_and_keeps_given_value(client, service_headers, get_email):
    given = await client.post(
        "/v1/emails",
        headers=service_headers,
        json=email_payload(sent_at="2025-11-24T18:00:00+02:00"),
    )
    got = await get_email(given.json()["id"])
    assert got["sent_at"] == "2025-11-24T16:00:00Z"
    defaulted = await client.post("/v1/emails", json=email_payload(), headers=service_headers)
    assert (await get_email(defaulted.json()["id"]))["sent_at"].startswith("20")


async def test_same_external_id_returns_the_existing_email(client, service_headers):
    payload = email_payload(external_id="invite-42")
    first = await client.post("/v1/emails", json=payload, headers=service_headers)
    second = await client.post("/v1/emails", json=payload, headers=service_headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert second.json()["created"] is False


async def test_external_id_is_scoped_to_the_organisation(client, service_headers):
    a = await client.post(
        "/v1/emails", json=email_payload(external_id="x", org_id="org-a"), headers=service_headers
    )
    b = await client.post(
        "/v1/emails", json=email_payload(external_id="x", org_id="org-b"), headers=service_headers
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


async def test_concurrent_registrations_with_one_key_create_one_email(app, client, service_headers):
    payload = email_payload(external_id="race-1")
    answers = await asyncio.gather(
        *(client.post("/v1/emails", json=payload, headers=service_headers) for _ in range(8))
    )
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    assert len({a.json()["id"] for a in answers}) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("type", "newsletter"),
        ("recipient", "not-an-address"),
        ("org_id", ""),
        ("provider", "pigeon"),
        ("sent_at", "2025-11-24T16:00:00"),  # naive: ambiguous, refused
        ("subject", "x" * 2001),
        ("candidate_id", "a\u0000b"),
    ],
)
async def test_invalid_input_is_422_and_changes_nothing(app, client, service_headers, field, value):
    response = await client.post(
        "/v1/emails", json=email_payload(**{field: value}), headers=service_headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    async with app.state.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM emails"))).scalar_one() == 0


async def test_unknown_field_is_refused(client, service_headers):
    response = await client.post(
        "/v1/emails", json=email_payload(status="opened"), headers=service_headers
    )
    assert response.status_code == 422


async def test_registration_needs_a_service_token(client, user_headers):
    assert (await client.post("/v1/emails", json=email_payload())).status_code == 401
    response = await client.post("/v1/emails", json=email_payload(), headers=user_headers())
    assert response.status_code == 403
    bad = await client.post(
        "/v1/emails", json=email_payload(), headers={"Authorization": "Bearer nope"}
    )
    assert bad.status_code == 401


async def test_rotated_service_token_works(client):
    from tests.conftest import OTHER_SERVICE_TOKEN

    response = await client.post(
        "/v1/emails",
        json=email_payload(),
        headers={"Authorization": f"Bearer {OTHER_SERVICE_TOKEN}"},
    )
    assert response.status_code == 201


async def test_sendgrid_message_id_is_stored_without_suffix(client, service_headers, get_email):
    message_id = sg_message_id()
    response = await client.post(
        "/v1/emails",
        headers=service_headers,
        json=email_payload(provider_message_id=f"{message_id}.filterdrecv-1"),
    )
    assert (await get_email(response.json()["id"]))["provider_message_id"] == message_id


async def test_batch_registers_a_blast(app, client, service_headers):
    emails = [
        email_payload(
            candidate_id=f"cand-{i}",
            type="email_blast",
            blast_id="blast-7",
            recipient=f"person{i}@example.com",
            external_id=f"blast-7-{i}",
        )
        for i in range(2500)
    ]
    response = await client.post(
        "/v1/emails/batch", json={"emails": emails}, headers=service_headers
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["created"], body["existing"]) == (2500, 0)
    assert [i["external_id"] for i in body["items"]] == [e["external_id"] for e in emails]
    again = await client.post(
        "/v1/emails/batch", json={"emails": emails[:10]}, headers=service_headers
    )
    assert again.status_code == 200
    assert [i["id"] for i in again.json()["items"]] == [i["id"] for i in body["items"][:10]]


async def test_batch_with_a_repeated_key_creates_it_once(client, service_headers):
    emails = [email_payload(external_id="same"), email_payload(external_id="same")]
    body = (
        await client.post("/v1/emails/batch", json={"emails": emails}, headers=service_headers)
    ).json()
    assert body["created"] == 1
    assert body["existing"] == 1
    assert body["items"][0]["id"] == body["items"][1]["id"]


async def test_batch_limits(client, service_headers):
    empty = await client.post("/v1/emails/batch", json={"emails": []}, headers=service_headers)
    assert empty.status_code == 422
    too_many = [email_payload()] * 10_001
    response = await client.post(
        "/v1/emails/batch", json={"emails": too_many}, headers=service_headers
    )
    assert response.status_code == 422


async def test_batch_adopts_events_that_came_first(client, service_headers, post_sendgrid):
    ids = [sg_message_id() for _ in range(3)]
    await post_sendgrid(
        [
            sg_event("delivered", f"p{i}@example.com", sg_message_id=f"{m}.f")
            for i, m in enumerate(ids)
        ]
    )
    emails = [
        email_payload(recipient=f"p{i}@example.com", provider_message_id=m, external_id=unique("x"))
        for i, m in enumerate(ids)
    ]
    body = (
        await client.post("/v1/emails/batch", json={"emails": emails}, headers=service_headers)
    ).json()
    assert [i["status"] for i in body["items"]] == ["delivered"] * 3


async def test_of_two_new_emails_with_one_key_the_newest_adopts(
    client, service_headers, post_sendgrid
):
    """Adoption picks the email live matching would pick: the newest sent_at."""
    message_id = sg_message_id()
    await post_sendgrid([sg_event("delivered", sg_message_id=f"{message_id}.f")])
    emails = [
        email_payload(
            provider_message_id=message_id,
            external_id=unique("dup"),
            sent_at=f"2025-11-2{day}T09:00:00Z",
        )
        for day in (1, 3, 2)
    ]
    body = (
        await client.post("/v1/emails/batch", json={"emails": emails}, headers=service_headers)
    ).json()
    assert [i["status"] for i in body["items"]] == ["sent", "delivered", "sent"]


async def test_two_full_blasts_at_once_both_land(client, service_headers):
    """Each blast locks the match keys of its 10,000 emails: bucketed, so two at once stay
    far inside PostgreSQL's shared lock table (one lock per key exhausted it)."""

    def blast(tag: str) -> list[dict]:
        return [
            email_payload(
                recipient=f"{tag}{i}@example.com",
                provider_message_id=sg_message_id(),
                external_id=f"{tag}-{i}",
                type="email_blast",
            )
            for i in range(10_000)
        ]

    answers = await asyncio.gather(
        *(
            client.post("/v1/emails/batch", json={"emails": blast(t)}, headers=service_headers)
            for t in (unique("x"), unique("y"))
        )
    )
    assert [a.status_code for a in answers] == [201, 201], [a.text[:300] for a in answers]
    assert [a.json()["created"] for a in answers] == [10_000, 10_000]
