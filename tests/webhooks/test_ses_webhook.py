"""Amazon SES via SNS through HTTP: signed envelopes, every SES event type end to end, SNS
retries, multi-recipient events, subscription confirmation, raw delivery, 404 when unset.

The session's app has a real SesAdapter; the autouse `aws` fixture points its SNS client at a
FakeAws (httpx.MockTransport) for each test, so nothing here reaches the internet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from app.main import create_app
from tests.conftest import make_settings, running
from tests.fixtures.providers import ses

URL = "/v1/webhooks/ses"
ZERO = {"received": 0, "stored": 0, "duplicates": 0, "unmatched": 0, "quarantined": 0}
ONE_STORED = {**ZERO, "received": 1, "stored": 1}


@pytest.fixture(autouse=True)
async def aws(app) -> AsyncIterator[ses.FakeAws]:
    """The AWS endpoints the SES adapter talks to, for this test only."""
    fake = ses.FakeAws()
    adapter = app.state.adapters["ses"]
    async with fake.client() as http:
        adapter.sns.use_http_client(http)
        try:
            yield fake
        finally:
            adapter.sns.use_http_client(None)


async def post(
    client: httpx.AsyncClient, message: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    sent = ses.headers(message) if headers is None else headers
    return await client.post(URL, content=ses.body(message), headers=sent)


async def count(app, table: str) -> int:
    async with app.state.engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


async def registered(
    register, recipient: str = "ada.lovelace@example.com", msg_id: str | None = None
):
    msg_id = msg_id or ses.message_id()
    email = await register(provider="ses", provider_message_id=msg_id, recipient=recipient)
    return email["id"], msg_id


# ---- every SES event type, end to end -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "kind", "category"),
    [
        ("send", "sent", "accepted", None),
        ("delivery", "delivered", "delivered", None),
        ("bounce_transient", "bounced", "soft_bounce", "mailbox_unavailable"),
        ("bounce_suppressed", "dropped", "dropped", "suppressed_bounce"),
        ("notification_bounce", "bounced", "hard_bounce", "invalid_address"),
        ("complaint", "delivered", "complained", None),
        ("complaint_suppressed", "dropped", "dropped", "suppressed_complaint"),
        ("reject", "dropped", "dropped", "content"),
        ("rendering_failure", "dropped", "dropped", "technical"),
        ("delivery_delay", "delayed", "deferred", None),
        ("open", "opened", "opened", None),
        ("click", "opened", "clicked", None),
        ("subscription", "delivered", "unsubscribed", None),
    ],
)
async def test_event_types_end_to_end(client, register, get_email, name, status, kind, category):
    email_id, msg_id = await registered(register)
    message = ses.notification(ses.ses_event(name, email_id=email_id, msg_id=msg_id))
    response = await post(client, message)
    assert response.status_code == 200, response.text
    assert response.json() == ONE_STORED
    got = await get_email(email_id)
    assert got["status"] == status
    assert [(e["kind"], e["failure_category"]) for e in got["events"]] == [(kind, category)]
    assert got["events"][0]["provider"] == "ses"


async def test_flags_from_ses_events(client, register, get_email):
    email_id, msg_id = await registered(register)
    for name in ("send", "delivery", "open", "click", "complaint", "subscription"):
        message = ses.notification(ses.ses_event(name, email_id=email_id, msg_id=msg_id))
        assert (await post(client, message)).json() == ONE_STORED
    got = await get_email(email_id)
    flags = got["flags"]
    assert got["status"] == "opened"
    assert (flags["open_count"], flags["machine_open_count"], flags["click_count"]) == (1, 0, 1)
    assert flags["complained"] is True
    assert flags["unsubscribed"] is True
    assert [e["kind"] for e in got["events"]] == [
        "accepted",
        "delivered",
        "opened",
        "clicked",
        "unsubscribed",
        "complained",
    ]


async def test_our_id_from_the_tag_is_enough(client, register, get_email):
    email = await register(provider="ses")  # registered without a provider message id
    message = ses.notification(ses.ses_event("delivery", email_id=email["id"]))
    assert (await post(client, message)).json() == ONE_STORED
    assert (await get_email(email["id"]))["status"] == "delivered"


async def test_message_id_in_angle_brackets_matches(client, register, get_email):
    msg_id = ses.message_id()
    email = await register(
        provider="ses", provider_message_id=f"<{msg_id}@eu-west-1.amazonses.com>"
    )
    message = ses.notification(ses.ses_event("delivery", msg_id=msg_id))
    assert (await post(client, message)).json() == ONE_STORED
    assert (await get_email(email["id"]))["status"] == "delivered"


# ---- SNS retries and multi-recipient events -------------------------------------------------


async def test_sns_retry_with_the_same_message_id_is_counted_not_reapplied(
    client, register, get_email
):
    email_id, msg_id = await registered(register)
    message = ses.notification(ses.ses_event("open", email_id=email_id, msg_id=msg_id))
    first = await post(client, message)
    retry = await post(client, message)
    assert first.json() == ONE_STORED
    assert retry.status_code == 200
    assert retry.json() == {**ONE_STORED, "stored": 0, "duplicates": 1}
    got = await get_email(email_id)
    assert got["flags"]["open_count"] == 1
    assert len(got["events"]) == 1


async def test_multi_recipient_bounce_is_one_event_per_recipient(client, register, get_email):
    msg_id = ses.message_id()
    ada, _ = await registered(register, "ada.lovelace@example.com", msg_id)
    grace, _ = await registered(register, "grace.hopper@example.org", msg_id)
    message = ses.notification(ses.ses_event("bounce_permanent", email_id=ada, msg_id=msg_id))
    response = await post(client, message)
    assert response.json() == {**ZERO, "received": 2, "stored": 2}
    got_ada, got_grace = await get_email(ada), await get_email(grace)
    assert (got_ada["status"], got_ada["bounce_type"]) == ("bounced", "hard")
    assert (got_grace["status"], got_grace["bounce_type"]) == ("bounced", "hard")
    assert got_ada["events"][0]["smtp_status"] == "5.1.1"
    assert got_ada["events"][0]["failure_category"] == "invalid_address"
    assert got_grace["events"][0]["smtp_status"] == "5.7.1"
    assert got_grace["events"][0]["failure_category"] == "blocked"
    retry = await post(client, message)
    assert retry.json() == {**ZERO, "received": 2, "duplicates": 2}


async def test_open_with_several_destinations_reaches_each_registered_email(
    client, register, get_email
):
    msg_id = ses.message_id()
    ada, _ = await registered(register, "ada.lovelace@example.com", msg_id)
    event = ses.ses_event(
        "open", msg_id=msg_id, destination=["ada.lovelace@example.com", "archive@example.com"]
    )
    response = await post(client, ses.notification(event))
    assert response.json() == {**ZERO, "received": 2, "stored": 2, "unmatched": 1}
    assert (await get_email(ada))["flags"]["open_count"] == 1


# ---- control messages ------------------------------------------------------------------------


async def test_subscription_confirmation_fetches_subscribe_url_exactly_once(app, client, aws):
    message = ses.confirmation()
    first = await post(client, message)
    again = await post(client, message)  # SNS resends when unsure
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == ZERO
    assert aws.urls("ConfirmSubscription") == [message["SubscribeURL"]]
    assert await count(app, "email_events") == 0


async def test_subscription_confirmation_for_a_foreign_topic_is_refused(client, aws):
    response = await post(client, ses.confirmation(topic=ses.FOREIGN_TOPIC_ARN))
    assert response.status_code == 401
    assert aws.requests == []


async def test_failed_confirmation_is_503_so_sns_retries(client, aws):
    aws.confirm_status = 500
    response = await post(client, ses.confirmation())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "provider_unavailable"


async def test_unsubscribe_confirmation_is_acknowledged_never_followed(client, aws):
    response = await post(client, ses.confirmation("UnsubscribeConfirmation"))
    assert response.status_code == 200
    assert response.json() == ZERO
    assert aws.urls("ConfirmSubscription") == []


async def test_topic_validation_message_is_200_without_events(app, client):
    response = await post(client, ses.notification(ses.VALIDATION_TEXT))
    assert response.status_code == 200
    assert response.json() == ZERO
    assert await count(app, "quarantined_events") == 0


# ---- refusals -------------------------------------------------------------------------------


async def test_raw_message_delivery_is_400_with_an_explanation(app, client, aws):
    bare = orjson.dumps(ses.ses_event("delivery"))
    response = await client.post(
        URL, content=bare, headers={"Content-Type": "text/plain; charset=UTF-8"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_payload"
    assert "raw message delivery" in response.json()["error"]["message"]
    assert aws.requests == []
    assert await count(app, "email_events") == 0


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"Hello": "world"}'])
async def test_malformed_body_is_400(client, raw):
    response = await client.post(URL, content=raw, headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_payload"


async def test_bad_signature_is_401(app, client):
    message = {**ses.notification(ses.ses_event("delivery")), "Message": '{"eventType":"Bounce"}'}
    response = await post(client, message)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "signature_invalid"
    assert await count(app, "email_events") == 0


async def test_certificate_off_sns_hosts_is_401_without_a_request(client, aws):
    message = ses.notification(
        ses.ses_event("delivery"), cert_url="https://attacker.s3.amazonaws.com/cert.pem"
    )
    response = await post(client, message)
    assert response.status_code == 401
    assert aws.requests == []


async def test_type_header_mismatch_is_401(client):
    message = ses.notification(ses.ses_event("delivery"))
    headers = ses.headers(message, **{"x-amz-sns-message-type": "SubscriptionConfirmation"})
    assert (await post(client, message, headers)).status_code == 401


async def test_unreadable_ses_event_is_quarantined(app, client):
    response = await post(client, ses.notification({"eventType": "Send"}))
    assert response.status_code == 200
    assert response.json() == {**ZERO, "received": 1, "quarantined": 1}
    assert await count(app, "quarantined_events") == 1


async def test_unconfigured_provider_is_404(database_url, sendgrid_keys, jwt_keys):
    settings = make_settings(
        database_url,
        sendgrid_keys,
        jwt_keys,
        providers={"sendgrid": {"verification_key": sendgrid_keys.setting}},
    )
    async with running(create_app(settings)) as other:
        message = ses.notification(ses.ses_event("delivery"))
        response = await post(other, message)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "provider_not_configured"
