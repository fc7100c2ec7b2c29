"""Postmark webhooks through HTTP: Basic auth and networks, every event type end to end, counts,
duplicates, malformed bodies, and 404 when the provider is not configured."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.main import create_app
from tests.conftest import make_settings, running
from tests.fixtures.providers import postmark as pm

URL = "/v1/webhooks/postmark"
ONE_STORED = {"received": 1, "stored": 1, "duplicates": 0, "unmatched": 0, "quarantined": 0}


async def post(client: httpx.AsyncClient, item: Any, **headers: Any) -> httpx.Response:
    return await client.post(URL, content=pm.body(item), headers=pm.headers(**headers))


async def count(app, table: str) -> int:
    async with app.state.engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


async def registered(register) -> tuple[str, str]:
    msg_id = pm.message_id()
    email = await register(provider="postmark", provider_message_id=msg_id)
    return email["id"], msg_id


# ---- every mapped event type, end to end ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fields", "status", "kind", "event_type"),
    [
        ("delivery", {}, "delivered", "delivered", "Delivery"),
        ("bounce_hard", {}, "bounced", "hard_bounce", "Bounce:HardBounce"),
        ("bounce_soft", {}, "bounced", "soft_bounce", "Bounce:SoftBounce"),
        ("bounce_transient", {}, "delayed", "deferred", "Bounce:Transient"),
        (
            "bounce_hard",
            {"Type": "BadEmailAddress"},
            "dropped",
            "dropped",
            "Bounce:BadEmailAddress",
        ),
        ("bounce_hard", {"Type": "Blocked"}, "bounced", "hard_bounce", "Bounce:Blocked"),
        ("bounce_hard", {"Type": "AutoResponder"}, "sent", "unknown", "Bounce:AutoResponder"),
        ("spam_complaint", {}, "delivered", "complained", "SpamComplaint"),
        ("open", {}, "opened", "opened", "Open"),
        ("click", {}, "opened", "clicked", "Click"),
        ("subscription_change", {}, "delivered", "unsubscribed", "SubscriptionChange"),
    ],
)
async def test_event_types_end_to_end(
    client, register, get_email, name, fields, status, kind, event_type
):
    email_id, msg_id = await registered(register)
    response = await post(client, pm.event(name, email_id=email_id, msg_id=msg_id, **fields))
    assert response.status_code == 200, response.text
    assert response.json() == ONE_STORED
    got = await get_email(email_id)
    assert got["status"] == status
    assert [(e["kind"], e["provider_event_type"]) for e in got["events"]] == [(kind, event_type)]
    assert got["events"][0]["provider"] == "postmark"


async def test_hard_bounce_shows_reason_code_and_advice(client, register, get_email):
    email_id, msg_id = await registered(register)
    await post(client, pm.event("bounce_hard", email_id=email_id, msg_id=msg_id))
    got = await get_email(email_id)
    assert got["bounce_type"] == "hard"
    assert got["badge"]["reason"].startswith("smtp;550 5.1.1")
    assert "typos" in got["badge"]["advice"]
    (event,) = got["events"]
    assert event["smtp_status"] == "5.1.1"
    assert event["failure_category"] == "invalid_address"
    assert event["occurred_at"] == "2025-11-24T16:05:40.486385Z"


async def test_engagement_flags(client, register, get_email):
    email_id, msg_id = await registered(register)
    for name in ("delivery", "open", "click", "spam_complaint"):
        response = await post(client, pm.event(name, email_id=email_id, msg_id=msg_id))
        assert response.json() == ONE_STORED
    got = await get_email(email_id)
    flags = got["flags"]
    assert got["status"] == "opened"
    assert (flags["opened"], flags["open_count"], flags["machine_open_count"]) == (True, 1, 0)
    assert (flags["clicked"], flags["click_count"]) == (True, 1)
    assert flags["complained"] is True
    click = next(e for e in got["events"] if e["kind"] == "clicked")
    assert click["url"] == "https://careers.example.com/interview/slot?token=abc123"


async def test_unsubscribe_then_resubscribe(client, register, get_email):
    email_id, msg_id = await registered(register)
    await post(client, pm.event("subscription_change", email_id=email_id, msg_id=msg_id))
    assert (await get_email(email_id))["flags"]["unsubscribed"] is True
    again = pm.event(
        "subscription_change",
        email_id=email_id,
        msg_id=msg_id,
        SuppressSending=False,
        SuppressionReason=None,
        ChangedAt="2025-11-25T09:00:00.0000000-05:00",
    )
    await post(client, again)
    got = await get_email(email_id)
    assert got["flags"]["unsubscribed"] is False
    assert [e["kind"] for e in got["events"]] == ["unsubscribed", "resubscribed"]


async def test_matches_by_message_id_and_recipient_without_metadata(client, register, get_email):
    email_id, msg_id = await registered(register)
    response = await post(client, pm.event("delivery", msg_id=msg_id))
    assert response.json() == ONE_STORED
    assert (await get_email(email_id))["status"] == "delivered"


async def test_events_before_registration_are_unmatched_then_adopted(client, register, get_email):
    msg_id = pm.message_id()
    response = await post(client, pm.event("bounce_hard", msg_id=msg_id))
    assert response.json() == {**ONE_STORED, "unmatched": 1}
    email = await register(provider="postmark", provider_message_id=msg_id)
    assert (await get_email(email["id"]))["status"] == "bounced"


# ---- duplicates -----------------------------------------------------------------------------


async def test_retry_with_the_same_trace_id_is_a_duplicate(client, register, get_email):
    email_id, msg_id = await registered(register)
    item = pm.event("open", email_id=email_id, msg_id=msg_id)
    trace = pm.trace_id()
    first = await post(client, item, trace_id=trace)
    retry = await client.post(
        URL,
        content=pm.body(item),
        headers={**pm.headers(trace_id=trace), "X-PM-Retries-Remaining": "5"},
    )
    assert first.json() == ONE_STORED
    assert retry.json() == {**ONE_STORED, "stored": 0, "duplicates": 1}
    got = await get_email(email_id)
    assert got["flags"]["open_count"] == 1
    assert len(got["events"]) == 1


async def test_same_event_without_trace_id_is_a_duplicate(client, register, get_email):
    email_id, msg_id = await registered(register)
    item = pm.event("delivery", email_id=email_id, msg_id=msg_id)
    await post(client, item)
    retry = await post(client, item)
    assert retry.json() == {**ONE_STORED, "stored": 0, "duplicates": 1}
    assert len((await get_email(email_id))["events"]) == 1


# ---- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        pm.basic(pm.USER, "wrong-password"),
        pm.basic("intruder", pm.PASSWORD),
        "Bearer " + pm.PASSWORD,
        "Basic %%%",
        "",
    ],
)
async def test_bad_credentials_are_401_and_store_nothing(app, client, authorization):
    response = await post(client, pm.event("delivery"), authorization=authorization)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "signature_invalid"
    assert response.headers["WWW-Authenticate"] == 'Basic realm="landed-postmark"'
    assert await count(app, "email_events") == 0


async def test_rotated_credentials_are_accepted(client):
    auth = pm.basic(pm.PREVIOUS_USER, pm.PREVIOUS_PASSWORD)
    response = await post(client, pm.event("delivery"), authorization=auth)
    assert response.status_code == 200


async def test_peer_outside_the_allowed_networks_is_401(app):
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://landed.test") as outside:
        response = await post(outside, pm.event("delivery"))
    assert response.status_code == 401
    assert await count(app, "email_events") == 0


# ---- malformed and unreadable ---------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'"Delivery"'])
async def test_malformed_body_is_400(client, raw):
    response = await client.post(URL, content=raw, headers=pm.headers())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_payload"


async def test_unauthenticated_malformed_body_is_401_not_400(client):
    response = await client.post(URL, content=b"{not json", headers=pm.headers(authorization=""))
    assert response.status_code == 401


async def test_unreadable_event_is_quarantined(app, client):
    item = {**pm.event("delivery"), "Recipient": None}
    response = await post(client, item)
    assert response.status_code == 200
    assert response.json() == {**ONE_STORED, "stored": 0, "quarantined": 1}
    assert await count(app, "quarantined_events") == 1


# ---- configuration --------------------------------------------------------------------------


async def test_probe_answers_200_when_configured(client):
    assert (await client.head(URL)).status_code == 200


async def test_unconfigured_provider_is_404(database_url, sendgrid_keys, jwt_keys):
    settings = make_settings(
        database_url,
        sendgrid_keys,
        jwt_keys,
        providers={"sendgrid": {"verification_key": sendgrid_keys.setting}},
    )
    async with running(create_app(settings)) as other:
        response = await post(other, pm.event("delivery"))
        probe = await other.head(URL)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "provider_not_configured"
    assert probe.status_code == 404
