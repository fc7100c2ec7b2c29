"""Mailgun webhooks through HTTP: every event type end to end, replay, counts, matching."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from app.main import create_app
from tests.conftest import make_settings, running
from tests.fixtures.factories import now, sg_event
from tests.fixtures.providers import mailgun as mg

URL = "/v1/webhooks/mailgun"
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
    async def do(event_data: Any = None, *, raw: bytes | None = None, **sign: Any):
        body = mg.body(event_data, **sign) if raw is None else raw
        return await client.post(URL, content=body, headers={"content-type": "application/json"})

    return do


@pytest.fixture
def registered(register):
    """Register an email sent through Mailgun; returns (email, Mailgun message id)."""

    async def do(recipient: str = RECIPIENT, **overrides: Any) -> tuple[dict[str, Any], str]:
        msg_id = mg.message_id()
        email = await register(
            provider="mailgun",
            recipient=recipient,
            provider_message_id=f"<{msg_id}>",  # as the send API answers it
            **overrides,
        )
        return email, msg_id

    return do


def stored_payload(name: str, email_id: str | None, msg_id: str) -> dict[str, Any]:
    """A stored payload's event-data, pointed at our email (id in user-variables, message id)."""
    data = copy.deepcopy(mg.load(name)["event-data"])
    data["user-variables"] = {"landed_email_id": email_id} if email_id else {}
    data["message"]["headers"]["message-id"] = msg_id
    return data


# ---- every mapped event type, end to end -----------------------------------------------------

# payload → (status, bounce_type, timeline kind, machine)
END_TO_END: dict[str, tuple[str, str | None, str, bool]] = {
    "accepted.json": ("sent", None, "accepted", False),
    "delivered.json": ("delivered", None, "delivered", False),
    "opened.json": ("opened", None, "opened", False),
    "opened_apple_mpp.json": ("delivered", None, "opened", True),
    "opened_gmail_proxy.json": ("opened", None, "opened", False),
    "clicked.json": ("opened", None, "clicked", False),
    "unsubscribed.json": ("delivered", None, "unsubscribed", False),
    "complained.json": ("delivered", None, "complained", False),
    "failed_permanent.json": ("bounced", "hard", "hard_bounce", False),
    "failed_temporary.json": ("delayed", None, "deferred", False),
    "failed_too_old.json": ("bounced", "soft", "soft_bounce", False),
    "failed_suppress_bounce.json": ("dropped", None, "dropped", False),
    "failed_suppress_complaint.json": ("dropped", None, "dropped", False),
    "failed_delayed_bounce.json": ("bounced", "hard", "hard_bounce", False),
    "rejected.json": ("dropped", None, "dropped", False),
    "stored.json": ("sent", None, "unknown", False),
}


@pytest.mark.parametrize(("name", "expected"), END_TO_END.items())
async def test_event_type_end_to_end(registered, post, get_email, name, expected):
    status, bounce_type, kind, machine = expected
    email, msg_id = await registered()
    data = stored_payload(name, email["id"], msg_id)
    response = await post(data)
    assert response.status_code == 200, response.text
    assert response.json() == answer()
    got = await get_email(email["id"])
    assert (got["status"], got["bounce_type"]) == (status, bounce_type)
    (event,) = got["events"]
    assert event["provider"] == "mailgun"
    assert (event["kind"], event["machine"]) == (kind, machine)
    assert event["provider_event_type"] == data["event"]


async def test_flags_and_details_reach_the_email(registered, post, get_email):
    email, msg_id = await registered()
    for name in ("delivered.json", "opened.json", "opened_apple_mpp.json", "clicked.json"):
        assert (await post(stored_payload(name, email["id"], msg_id))).status_code == 200
    for name in ("unsubscribed.json", "complained.json"):
        assert (await post(stored_payload(name, email["id"], msg_id))).status_code == 200
    got = await get_email(email["id"])
    flags = got["flags"]
    assert got["status"] == "opened"
    assert (flags["open_count"], flags["machine_open_count"], flags["click_count"]) == (1, 1, 1)
    assert flags["complained"] is True
    assert flags["unsubscribed"] is True
    click = next(e for e in got["events"] if e["kind"] == "clicked")
    assert click["url"] == "https://careers.example.com/interview/slot?c=42"


async def test_hard_bounce_carries_reason_code_and_advice(registered, post, get_email):
    email, msg_id = await registered()
    await post(stored_payload("failed_permanent.json", email["id"], msg_id))
    got = await get_email(email["id"])
    (event,) = got["events"]
    assert event["smtp_status"] == "5.1.1"
    assert event["failure_category"] == "invalid_address"
    assert got["badge"]["reason"].startswith("5.1.1 The email account")
    assert "typos" in got["badge"]["advice"]


async def test_suppressed_address_is_dropped_with_suppression_advice(registered, post, get_email):
    email, msg_id = await registered()
    await post(stored_payload("failed_suppress_bounce.json", email["id"], msg_id))
    got = await get_email(email["id"])
    assert got["status"] == "dropped"
    assert got["badge"]["reason"] == "Not delivering to previously bounced address"
    assert got["events"][0]["failure_category"] == "suppressed_bounce"


async def test_delayed_bounce_after_delivery_is_a_hard_bounce(registered, post, get_email):
    email, msg_id = await registered()
    await post(stored_payload("delivered.json", email["id"], msg_id))
    await post(stored_payload("failed_delayed_bounce.json", email["id"], msg_id))
    got = await get_email(email["id"])
    assert (got["status"], got["bounce_type"]) == ("bounced", "hard")
    assert [e["kind"] for e in got["events"]] == ["delivered", "hard_bounce"]


async def test_temporary_failure_then_delivery_is_delivered(registered, post, get_email):
    email, msg_id = await registered()
    await post(stored_payload("delivered.json", email["id"], msg_id))
    await post(stored_payload("failed_temporary.json", email["id"], msg_id))  # arrives late
    assert (await get_email(email["id"]))["status"] == "delivered"


# ---- matching ----------------------------------------------------------------------------------


async def test_fallback_match_by_message_id_and_recipient_ignores_case(registered, post, get_email):
    email, msg_id = await registered(recipient="Grace.Hopper@Example.ORG")
    data = stored_payload("delivered.json", None, msg_id)
    data["recipient"] = "grace.hopper@example.org"
    response = await post(data)
    assert response.json() == answer()
    assert (await get_email(email["id"]))["status"] == "delivered"


async def test_same_message_other_recipient_does_not_match(registered, post, get_email):
    email, msg_id = await registered()
    data = stored_payload("delivered.json", None, msg_id)
    data["recipient"] = "someone.else@example.org"
    assert (await post(data)).json() == answer(unmatched=1)
    assert (await get_email(email["id"]))["status"] == "sent"


async def test_events_before_registration_are_adopted(register, post, get_email):
    msg_id = mg.message_id()
    early = [
        stored_payload("delivered.json", None, msg_id),
        stored_payload("opened.json", None, msg_id),
    ]
    for data in early:
        assert (await post(data)).json() == answer(unmatched=1)
    email = await register(
        provider="mailgun", recipient=RECIPIENT, provider_message_id=f"<{msg_id}>"
    )
    assert email["status"] == "opened"
    got = await get_email(email["id"])
    assert [e["kind"] for e in got["events"]] == ["delivered", "opened"]


async def test_unknown_id_in_metadata_is_kept_unmatched(app, post):
    data = mg.event("delivered", email_id="5b1c1a0e-0000-4000-8000-000000000000")
    assert (await post(data)).json() == answer(unmatched=1)
    assert await count(app, "email_events") == 1


# ---- counts, duplicates, replay --------------------------------------------------------------


async def test_same_request_twice_is_a_duplicate(app, post):
    raw = mg.body(mg.event("delivered"))
    assert (await post(raw=raw)).json() == answer(unmatched=1)
    assert (await post(raw=raw)).json() == answer(stored=0, duplicates=1)
    assert await count(app, "email_events") == 1


async def test_same_event_resigned_is_a_duplicate(app, post):
    """A retry signed with a new token: the event key (id, event, time) still dedupes it."""
    data = mg.event("delivered")
    assert (await post(data)).json() == answer(unmatched=1)
    assert (await post(data)).json() == answer(stored=0, duplicates=1)
    assert await count(app, "email_events") == 1


async def test_same_id_for_another_event_is_stored(post):
    first = mg.event("delivered", id="DayUniqueId00000000000")
    second = mg.event("opened", id="DayUniqueId00000000000")
    assert (await post(first)).json()["stored"] == 1
    assert (await post(second)).json()["stored"] == 1


async def test_replayed_token_with_another_body_is_401(app, post, registered, get_email):
    email, msg_id = await registered()
    block = mg.signature_block()
    delivered = stored_payload("delivered.json", email["id"], msg_id)
    assert (await post(delivered, signature=block)).status_code == 200
    forged = stored_payload("failed_permanent.json", email["id"], msg_id)
    response = await post(forged, signature=block)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "signature_invalid"
    assert await count(app, "email_events") == 1
    assert (await get_email(email["id"]))["status"] == "delivered"


async def test_replayed_token_with_the_same_body_is_a_harmless_duplicate(app, post):
    raw = mg.body(mg.event("delivered"), signature=mg.signature_block())
    assert (await post(raw=raw)).status_code == 200
    response = await post(raw=raw)
    assert response.status_code == 200
    assert response.json() == answer(stored=0, duplicates=1)
    assert await count(app, "webhook_nonces") == 1


async def test_quarantined_event_is_counted_and_kept(app, post):
    data = mg.event("delivered", recipient=None)
    assert (await post(data)).json() == answer(stored=0, quarantined=1)
    assert await count(app, "quarantined_events") == 1
    assert await count(app, "email_events") == 0


# ---- refusals ----------------------------------------------------------------------------------


async def test_bad_signature_is_401_and_stores_nothing(app, post):
    response = await post(mg.event("delivered"), key=mg.STRANGER_KEY)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "signature_invalid"
    assert await count(app, "email_events") == 0
    assert await count(app, "webhook_nonces") == 0


async def test_missing_signature_is_401(post):
    response = await post(raw=orjson.dumps({"event-data": mg.event("delivered")}))
    assert response.status_code == 401


async def test_stale_signature_is_401(post):
    response = await post(mg.event("delivered"), timestamp=now() - 10 * 3600)
    assert response.status_code == 401


async def test_retry_hours_later_is_accepted(post):
    """Mailgun retries for 8 h with the original signature block."""
    response = await post(mg.event("delivered"), timestamp=now() - 8 * 3600)
    assert response.status_code == 200


async def test_future_signature_is_401(post):
    response = await post(mg.event("delivered"), timestamp=now() + 3600)
    assert response.status_code == 401


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'"delivered"'])
async def test_body_that_is_not_a_json_object_is_400(app, post, raw):
    response = await post(raw=raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_payload"
    assert await count(app, "webhook_nonces") == 0


@pytest.mark.parametrize("event_data", [None, "delivered", [{"event": "delivered"}]])
async def test_signed_envelope_without_event_data_object_is_400(app, post, event_data):
    raw = orjson.dumps({"signature": mg.signature_block(), "event-data": event_data})
    response = await post(raw=raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_payload"
    assert await count(app, "webhook_nonces") == 0


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
        response = await other.post(URL, content=mg.body(mg.event("delivered")))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "provider_not_configured"
        assert (await other.head(URL)).status_code == 404


async def test_rejected_event_naming_no_address_drops_the_email_it_claims(
    post, register, get_email
):
    """Mailgun `rejected` events carry no recipient: our id in user-variables is the match."""
    email = await register(provider="mailgun", recipient=RECIPIENT)
    item = mg.event("rejected", None, email_id=email["id"])
    item["message"]["headers"]["to"] = "undisclosed-recipients:;"
    response = await post(item)
    assert response.status_code == 200, response.text
    assert response.json() == answer()
    assert (await get_email(email["id"]))["status"] == "dropped"


async def test_our_id_claimed_by_another_provider_matches_nothing(
    register, post_sendgrid, get_email
):
    """An email sent through Mailgun is not changed by a SendGrid event that names its id."""
    email = await register(provider="mailgun", recipient=RECIPIENT)
    response = await post_sendgrid([sg_event("dropped", RECIPIENT, landed_email_id=email["id"])])
    assert response.json()["unmatched"] == 1
    assert (await get_email(email["id"]))["status"] == "sent"
