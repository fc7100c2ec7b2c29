"""Resend webhooks through HTTP: every event type end to end, counts, duplicates, matching."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from app.main import create_app
from tests.conftest import make_settings, running
from tests.fixtures.factories import now
from tests.fixtures.providers import resend as rs

URL = "/v1/webhooks/resend"
RECIPIENT = "grace.hopper@example.org"


async def count(app, table: str) -> int:
    async with app.state.engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


def answer(received=1, stored=1, duplicates=0, unmatched=0, quarantined=0) -> dict[str, int]:
    return {
        "received": received,
        "stored": stored,
        "duplicates": duplicates,
        "unmatched": unmatched,
        "quarantined": quarantined,
    }


@pytest.fixture
def post(client: httpx.AsyncClient):
    async def do(
        event: dict[str, Any] | None = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        **sign: Any,
    ) -> httpx.Response:
        body = rs.body(event or {}) if raw is None else raw
        signed = rs.headers(body, **sign) if headers is None else headers
        return await client.post(URL, content=body, headers=signed)

    return do


@pytest.fixture
def registered(register):
    """Register an email sent through Resend; returns (email, Resend email id)."""

    async def do(recipient: str = RECIPIENT, **overrides: Any) -> tuple[dict[str, Any], str]:
        resend_id = rs.email_id()
        email = await register(
            provider="resend", recipient=recipient, provider_message_id=resend_id, **overrides
        )
        return email, resend_id

    return do


def stored_payload(name: str, email_id: str | None, resend_id: str) -> dict[str, Any]:
    """A stored payload pointed at our email (our id in the tags, Resend's email id)."""
    event = copy.deepcopy(rs.load(name))
    event["data"]["email_id"] = resend_id
    event["data"]["tags"] = {"category": "interview_invitation"}
    if email_id:
        event["data"]["tags"]["landed_email_id"] = email_id
    return event


# ---- every mapped event type, end to end -----------------------------------------------------

# payload → (status, bounce_type, timeline kind)
END_TO_END: dict[str, tuple[str, str | None, str]] = {
    "sent.json": ("sent", None, "accepted"),
    "delivered.json": ("delivered", None, "delivered"),
    "delivery_delayed.json": ("delayed", None, "deferred"),
    "bounced_permanent.json": ("bounced", "hard", "hard_bounce"),
    "bounced_transient.json": ("bounced", "soft", "soft_bounce"),
    "bounced_suppressed.json": ("dropped", None, "dropped"),
    "complained.json": ("delivered", None, "complained"),
    "opened.json": ("opened", None, "opened"),
    "clicked.json": ("opened", None, "clicked"),
    "failed.json": ("dropped", None, "dropped"),
    "suppressed.json": ("dropped", None, "dropped"),
    "scheduled.json": ("sent", None, "unknown"),
}


@pytest.mark.parametrize(("name", "expected"), END_TO_END.items())
async def test_event_type_end_to_end(registered, post, get_email, name, expected):
    status, bounce_type, kind = expected
    email, resend_id = await registered()
    event = stored_payload(name, email["id"], resend_id)
    response = await post(event)
    assert response.status_code == 200, response.text
    assert response.json() == answer()
    got = await get_email(email["id"])
    assert (got["status"], got["bounce_type"]) == (status, bounce_type)
    (timeline,) = got["events"]
    assert timeline["provider"] == "resend"
    assert timeline["kind"] == kind
    assert timeline["provider_event_type"] == event["type"]
    assert timeline["machine"] is False


async def test_flags_and_details_reach_the_email(registered, post, get_email):
    email, resend_id = await registered()
    for name in ("delivered.json", "opened.json", "clicked.json", "complained.json"):
        response = await post(stored_payload(name, email["id"], resend_id))
        assert response.status_code == 200
    got = await get_email(email["id"])
    flags = got["flags"]
    assert got["status"] == "opened"
    assert (flags["open_count"], flags["click_count"], flags["complained"]) == (1, 1, True)
    click = next(e for e in got["events"] if e["kind"] == "clicked")
    assert click["url"] == "https://careers.example.com/interview/slot?c=42"


async def test_suppressed_bounce_is_dropped_with_reason_and_advice(registered, post, get_email):
    email, resend_id = await registered()
    await post(stored_payload("bounced_suppressed.json", email["id"], resend_id))
    got = await get_email(email["id"])
    assert got["status"] == "dropped"
    assert got["events"][0]["failure_category"] == "suppressed_bounce"
    assert got["badge"]["reason"].startswith("The recipient's email address is on the")
    assert "suppressed" in got["badge"]["advice"]


async def test_failed_send_shows_the_reason(registered, post, get_email):
    email, resend_id = await registered()
    await post(stored_payload("failed.json", email["id"], resend_id))
    got = await get_email(email["id"])
    assert got["badge"]["reason"] == "reached_daily_quota"
    assert got["events"][0]["failure_category"] == "technical"


async def test_soft_bounce_then_delivery_is_delivered(registered, post, get_email):
    email, resend_id = await registered()
    await post(stored_payload("bounced_transient.json", email["id"], resend_id))
    await post(stored_payload("delivered.json", email["id"], resend_id))
    assert (await get_email(email["id"]))["status"] == "delivered"


async def test_tags_as_a_list_carry_our_id(registered, post, get_email):
    email, _ = await registered()
    event = rs.load("delivered_tag_list.json")
    event["data"]["email_id"] = rs.email_id()  # not the registered id: only the tag can match
    event["data"]["tags"][1]["value"] = email["id"]
    assert (await post(event)).json() == answer()
    assert (await get_email(email["id"]))["status"] == "delivered"


async def test_contact_events_are_kept_as_unknown(app, post):
    assert (await post(rs.load("contact_created.json"))).json() == answer(unmatched=1)
    assert await count(app, "email_events") == 1


# ---- matching ----------------------------------------------------------------------------------


async def test_fallback_match_by_email_id_and_recipient_ignores_case(registered, post, get_email):
    email, resend_id = await registered(recipient="Grace.Hopper@Example.ORG")
    event = stored_payload("delivered.json", None, resend_id)
    assert event["data"]["to"] == ["grace.hopper@example.org"]
    assert (await post(event)).json() == answer()
    assert (await get_email(email["id"]))["status"] == "delivered"


async def test_one_event_per_recipient(register, post, get_email):
    """One Resend email to two people: each registered recipient gets its event."""
    resend_id = rs.email_id()
    emails = [
        await register(provider="resend", recipient=address, provider_message_id=resend_id)
        for address in ("grace.hopper@example.org", "hiring.panel@example.org")
    ]
    event = stored_payload("delivered_two_recipients.json", None, resend_id)
    assert (await post(event)).json() == answer(received=2, stored=2)
    for email in emails:
        got = await get_email(email["id"])
        assert got["status"] == "delivered"
        assert len(got["events"]) == 1


async def test_events_before_registration_are_adopted(register, post, get_email):
    resend_id = rs.email_id()
    for name in ("sent.json", "delivered.json", "opened.json"):
        response = await post(stored_payload(name, None, resend_id))
        assert response.json() == answer(unmatched=1)
    email = await register(provider="resend", recipient=RECIPIENT, provider_message_id=resend_id)
    assert email["status"] == "opened"
    got = await get_email(email["id"])
    assert [e["kind"] for e in got["events"]] == ["accepted", "delivered", "opened"]


# ---- counts, duplicates ----------------------------------------------------------------------


async def test_retry_with_the_same_svix_id_is_a_duplicate(app, post):
    event = rs.event("email.delivered")
    raw = rs.body(event)
    message_id = rs.msg_id()
    first = await post(raw=raw, message_id=message_id, timestamp=now() - 200)
    retry = await post(raw=raw, message_id=message_id)  # re-signed, new timestamp
    assert first.json() == answer(unmatched=1)
    assert retry.json() == answer(stored=0, duplicates=1)
    assert await count(app, "email_events") == 1


async def test_two_recipient_retry_is_two_duplicates(post):
    event = rs.load("delivered_two_recipients.json")
    message_id = rs.msg_id()
    assert (await post(event, message_id=message_id)).json()["stored"] == 2
    retry = await post(event, message_id=message_id)
    assert retry.json() == answer(received=2, stored=0, duplicates=2)


async def test_quarantined_event_is_counted_and_kept(app, post):
    event = rs.event("email.delivered", to=[])
    assert (await post(event)).json() == answer(stored=0, quarantined=1)
    assert await count(app, "quarantined_events") == 1
    assert await count(app, "email_events") == 0


# ---- refusals ----------------------------------------------------------------------------------


async def test_unbranded_headers_are_accepted(post):
    response = await post(rs.event("email.delivered"), prefix="webhook")
    assert response.status_code == 200


@pytest.mark.parametrize("drop", ["svix-id", "svix-timestamp", "svix-signature"])
async def test_missing_header_is_401(app, post, drop):
    raw = rs.body(rs.event("email.delivered"))
    headers = rs.headers(raw)
    del headers[drop]
    response = await post(raw=raw, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "signature_invalid"
    assert await count(app, "email_events") == 0


async def test_wrong_secret_is_401(post):
    response = await post(rs.event("email.delivered"), secret=rs.STRANGER_SECRET)
    assert response.status_code == 401


async def test_previous_secret_is_accepted(post):
    response = await post(rs.event("email.delivered"), secret=rs.PREVIOUS_SECRET)
    assert response.status_code == 200


async def test_tampered_body_is_401(app, post):
    raw = rs.body(rs.event("email.delivered"))
    headers = rs.headers(raw)
    response = await post(raw=raw.replace(b"delivered", b"bounced"), headers=headers)
    assert response.status_code == 401
    assert await count(app, "email_events") == 0


@pytest.mark.parametrize("offset", [-3600, 3600])
async def test_timestamp_outside_the_window_is_401(post, offset):
    response = await post(rs.event("email.delivered"), timestamp=now() + offset)
    assert response.status_code == 401


async def test_garbled_signature_is_401(post):
    raw = rs.body(rs.event("email.delivered"))
    headers = rs.headers(raw)
    headers["svix-signature"] = "v1,%%%not-base64%%%"
    response = await post(raw=raw, headers=headers)
    assert response.status_code == 401


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'"email.sent"'])
async def test_signed_body_that_is_not_a_json_object_is_400(app, post, raw):
    response = await post(raw=raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_payload"
    assert await count(app, "email_events") == 0


async def test_probe_answers_200(client):
    assert (await client.head(URL)).status_code == 200


async def test_unconfigured_provider_is_404(database_url, sendgrid_keys, jwt_keys):
    settings = make_settings(
        database_url,
        sendgrid_keys,
        jwt_keys,
        providers={"sendgrid": {"verification_key": sendgrid_keys.setting}},
    )
    async with running(create_app(settings)) as other:
        raw = orjson.dumps(rs.event("email.delivered"))
        response = await other.post(URL, content=raw, headers=rs.headers(raw))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "provider_not_configured"
