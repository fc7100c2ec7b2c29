"""SendGrid Event Webhook through HTTP: signatures, shapes, counts, matching, statuses."""

from __future__ import annotations

import base64

import orjson
import pytest
from sqlalchemy import text

from tests.conftest import make_settings, running
from tests.fixtures.factories import BASE_TS, now, sg_event, sg_message_id, unique
from tests.fixtures.keys import sendgrid_body

ZERO = {"received": 0, "stored": 0, "duplicates": 0, "unmatched": 0, "quarantined": 0}


async def count(app, table: str) -> int:
    async with app.state.engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


# ---- authentication: one test per way a signature can fail ---------------------------------


async def test_valid_signature_is_accepted(post_sendgrid):
    response = await post_sendgrid([sg_event("processed")])
    assert response.status_code == 200
    assert response.json()["stored"] == 1


@pytest.mark.parametrize(
    "drop", ["X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"]
)
async def test_missing_header_is_401(app, post_sendgrid, sendgrid_keys, drop):
    body = sendgrid_body([sg_event("processed")])
    headers = sendgrid_keys.sign(body)
    del headers[drop]
    response = await post_sendgrid(None, body=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "signature_invalid"
    assert await count(app, "email_events") == 0


async def test_signature_by_unknown_key_is_401(app, post_sendgrid, sendgrid_keys):
    response = await post_sendgrid([sg_event("processed")], key=sendgrid_keys.stranger)
    assert response.status_code == 401
    assert await count(app, "email_events") == 0


async def test_previous_key_still_verifies_during_rotation(post_sendgrid, sendgrid_keys):
    response = await post_sendgrid([sg_event("processed")], key=sendgrid_keys.previous)
    assert response.status_code == 200


async def test_tampered_body_is_401(post_sendgrid, sendgrid_keys):
    body = sendgrid_body([sg_event("delivered")])
    headers = sendgrid_keys.sign(body)
    tampered = body.replace(b"delivered", b"bounce")
    response = await post_sendgrid(None, body=tampered, headers=headers)
    assert response.status_code == 401


async def test_reserialised_json_does_not_verify(post_sendgrid, sendgrid_keys):
    """The signature covers the exact bytes: the same JSON, re-serialised, must fail."""
    body = sendgrid_body([sg_event("delivered")])
    headers = sendgrid_keys.sign(body)
    reserialised = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)
    response = await post_sendgrid(None, body=reserialised, headers=headers)
    assert response.status_code == 401


async def test_signature_with_other_timestamp_header_is_401(post_sendgrid, sendgrid_keys):
    body = sendgrid_body([sg_event("delivered")])
    headers = sendgrid_keys.sign(body, timestamp=now())
    headers["X-Twilio-Email-Event-Webhook-Timestamp"] = str(now() - 5)
    response = await post_sendgrid(None, body=body, headers=headers)
    assert response.status_code == 401


async def test_stale_timestamp_is_401(post_sendgrid):
    response = await post_sendgrid([sg_event("processed")], timestamp=now() - 40 * 3600)
    assert response.status_code == 401


async def test_day_old_retry_is_accepted(post_sendgrid):
    """SendGrid retries for 24 h; a signature that old must still pass with the default."""
    response = await post_sendgrid([sg_event("processed")], timestamp=now() - 25 * 3600)
    assert response.status_code == 200


async def test_future_timestamp_is_401(post_sendgrid):
    response = await post_sendgrid([sg_event("processed")], timestamp=now() + 3600)
    assert response.status_code == 401


@pytest.mark.parametrize("timestamp", ["abc", "-5", "1e9", " 1700000000", "17000000000000000"])
async def test_malformed_timestamp_header_is_401(post_sendgrid, sendgrid_keys, timestamp):
    body = sendgrid_body([sg_event("processed")])
    headers = sendgrid_keys.sign(body)
    headers["X-Twilio-Email-Event-Webhook-Timestamp"] = timestamp
    response = await post_sendgrid(None, body=body, headers=headers)
    assert response.status_code == 401


@pytest.mark.parametrize("signature", ["not base64!", "", "AAAA", base64.b64encode(b"x" * 70)])
async def test_garbled_signature_is_401(post_sendgrid, sendgrid_keys, signature):
    body = sendgrid_body([sg_event("processed")])
    headers = sendgrid_keys.sign(body)
    headers["X-Twilio-Email-Event-Webhook-Signature"] = (
        signature.decode() if isinstance(signature, bytes) else signature
    )
    response = await post_sendgrid(None, body=body, headers=headers)
    assert response.status_code == 401


# SendGrid's own published vector (sendgrid-python test/unit/test_eventwebhook.py): a real
# SendGrid key and signature over a body that ends with CRLF.
SENDGRID_VECTOR_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw"
    "+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SENDGRID_VECTOR_SIGNATURE = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+"
    "uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
)
SENDGRID_VECTOR_TIMESTAMP = "1600112502"
SENDGRID_VECTOR_BODY = (
    b'[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address",'
    b'"sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",'
    b'"sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",'
    b'"smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]'
    b"\r\n"
)


@pytest.fixture
async def vector_client(database_url, sendgrid_keys, jwt_keys):
    """An app trusting SendGrid's published key with a tolerance large enough to replay a
    2020 capture (a very large tolerance must work)."""
    settings = make_settings(
        database_url,
        sendgrid_keys,
        jwt_keys,
        providers={
            "sendgrid": {
                "verification_key": SENDGRID_VECTOR_KEY,
                "timestamp_tolerance_seconds": str(20 * 365 * 86400),
            }
        },
    )
    from app.main import create_app

    async with running(create_app(settings)) as c:
        yield c


def vector_headers() -> dict[str, str]:
    return {
        "X-Twilio-Email-Event-Webhook-Signature": SENDGRID_VECTOR_SIGNATURE,
        "X-Twilio-Email-Event-Webhook-Timestamp": SENDGRID_VECTOR_TIMESTAMP,
        "Content-Type": "application/json",
    }


async def test_sendgrid_published_vector_verifies(vector_client, service_headers):
    registered = await vector_client.post(
        "/v1/emails",
        json={
            "org_id": "org-acme",
            "candidate_id": "c-1",
            "type": "email_blast",
            "recipient": "Hello@World.com",
            "subject": "Hi",
            "provider_message_id": "LRzXl_NHStOGhQ4kofSm_A",
        },
        headers=service_headers,
    )
    response = await vector_client.post(
        "/v1/webhooks/sendgrid", content=SENDGRID_VECTOR_BODY, headers=vector_headers()
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1
    got = await vector_client.get(
        f"/v1/emails/{registered.json()['id']}",
        params={"org_id": "org-acme"},
        headers=service_headers,
    )
    assert got.json()["status"] == "dropped"
    assert got.json()["badge"]["reason"] == "Bounced Address"


async def test_sendgrid_vector_without_trailing_crlf_fails(vector_client):
    response = await vector_client.post(
        "/v1/webhooks/sendgrid", content=SENDGRID_VECTOR_BODY[:-2], headers=vector_headers()
    )
    assert response.status_code == 401


async def test_unconfigured_sendgrid_is_404(database_url, sendgrid_keys, jwt_keys):
    from app.main import create_app

    settings = make_settings(database_url, sendgrid_keys, jwt_keys, providers={})
    async with running(create_app(settings)) as c:
        body = sendgrid_body([sg_event("processed")])
        response = await c.post(
            "/v1/webhooks/sendgrid", content=body, headers=sendgrid_keys.sign(body)
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "provider_not_configured"
        assert (await c.head("/v1/webhooks/sendgrid")).status_code == 404


async def test_unknown_provider_is_404(client):
    response = await client.post("/v1/webhooks/nosuchesp", content=b"[]")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "provider_not_configured"


async def test_head_answers_200(client):
    response = await client.head("/v1/webhooks/sendgrid")
    assert response.status_code == 200


# ---- body shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b'[{"event": "processed"'])
async def test_malformed_json_is_400(app, post_sendgrid, body):
    response = await post_sendgrid(None, body=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_payload"
    assert await count(app, "email_events") == 0
    assert await count(app, "quarantined_events") == 0


@pytest.mark.parametrize("body", [b'"a string"', b"42", b"null", b"true"])
async def test_json_that_is_not_a_batch_is_400(post_sendgrid, body):
    response = await post_sendgrid(None, body=body)
    assert response.status_code == 400


async def test_empty_batch_is_fine(post_sendgrid):
    response = await post_sendgrid([])
    assert response.status_code == 200
    assert response.json() == ZERO


async def test_single_object_is_a_batch_of_one(post_sendgrid):
    response = await post_sendgrid(sg_event("delivered"))
    assert response.status_code == 200
    assert response.json()["received"] == 1
    assert response.json()["stored"] == 1


async def test_oversized_body_is_413_without_reading_it(post_sendgrid, sendgrid_keys):
    body = b"[" + b" " * (3 * 1024 * 1024) + b"]"
    response = await post_sendgrid(None, body=body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_oversized_chunked_body_is_413(client):
    async def chunks():
        for _ in range(40):
            yield b" " * (64 * 1024)

    response = await client.post("/v1/webhooks/sendgrid", content=chunks())
    assert response.status_code == 413


# ---- counts, dedupe, quarantine ------------------------------------------------------------


async def test_batch_delivered_five_times_is_stored_once(app, register, post_sendgrid, get_email):
    email = await register()
    batch = [
        sg_event("processed", landed_email_id=email["id"]),
        sg_event("delivered", landed_email_id=email["id"], timestamp=BASE_TS + 5),
        sg_event("open", landed_email_id=email["id"], timestamp=BASE_TS + 60),
    ]
    answers = [(await post_sendgrid(batch)).json() for _ in range(5)]
    assert answers[0] == {**ZERO, "received": 3, "stored": 3}
    for later in answers[1:]:
        assert later == {**ZERO, "received": 3, "duplicates": 3}
    assert await count(app, "email_events") == 3
    got = await get_email(email["id"])
    assert got["status"] == "opened"
    assert got["flags"]["open_count"] == 1


async def test_duplicates_inside_one_batch_count_once(post_sendgrid):
    event = sg_event("delivered")
    response = await post_sendgrid([event, event, event])
    assert response.json() == {**ZERO, "received": 3, "stored": 1, "duplicates": 2, "unmatched": 1}


async def test_event_without_sg_event_id_dedupes_on_content(app, post_sendgrid):
    event = sg_event("delivered")
    del event["sg_event_id"]
    first = (await post_sendgrid([event])).json()
    second = (await post_sendgrid([event])).json()
    assert first["stored"] == 1
    assert second["duplicates"] == 1
    other = {**event, "timestamp": BASE_TS + 1}
    assert (await post_sendgrid([other])).json()["stored"] == 1
    assert await count(app, "email_events") == 2


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"event": "delivered", "timestamp": BASE_TS}, "email"),
        ({"email": "a@example.com", "timestamp": BASE_TS}, "event"),
        ({"email": "a@example.com", "event": "delivered"}, "timestamp"),
        ({"email": 42, "event": "delivered", "timestamp": BASE_TS}, "email"),
        ({"email": "a@example.com", "event": ["delivered"], "timestamp": BASE_TS}, "event"),
        ({"email": "a@example.com", "event": "delivered", "timestamp": "soon"}, "timestamp"),
        ({"email": "a@example.com", "event": "delivered", "timestamp": True}, "timestamp"),
        ({"email": "a@example.com", "event": "delivered", "timestamp": -5}, "timestamp"),
        ("just a string", "object"),
        (None, "object"),
    ],
)
async def test_uninterpretable_event_is_quarantined_rest_stored(app, post_sendgrid, item, reason):
    good = sg_event("delivered")
    response = await post_sendgrid([good, item])
    assert response.status_code == 200
    assert response.json() == {**ZERO, "received": 2, "stored": 1, "unmatched": 1, "quarantined": 1}
    async with app.state.engine.connect() as conn:
        row = (await conn.execute(text("SELECT reason, raw FROM quarantined_events"))).one()
    assert reason in row.reason
    assert row.raw == item


async def test_redelivered_quarantine_is_kept_once(app, post_sendgrid):
    bad = {"event": "delivered", "timestamp": BASE_TS}
    for _ in range(3):
        await post_sendgrid([bad])
    assert await count(app, "quarantined_events") == 1


async def test_nul_characters_do_not_break_storage(app, post_sendgrid):
    event = sg_event("bounce", reason="550 bad\u0000address", extra="x\u0000y")
    response = await post_sendgrid([event])
    assert response.status_code == 200
    assert response.json()["stored"] == 1


async def test_unknown_event_type_is_stored_as_unknown(app, register, post_sendgrid, get_email):
    email = await register()
    response = await post_sendgrid([sg_event("account_status_change", landed_email_id=email["id"])])
    assert response.json()["stored"] == 1
    got = await get_email(email["id"])
    assert got["status"] == "sent"
    assert got["events"][0]["kind"] == "unknown"
    assert got["events"][0]["provider_event_type"] == "account_status_change"


async def test_raw_event_is_kept(app, register, post_sendgrid):
    email = await register()
    event = sg_event("click", landed_email_id=email["id"], custom_field={"nested": [1, 2]})
    await post_sendgrid([event])
    async with app.state.engine.connect() as conn:
        raw = (await conn.execute(text("SELECT raw FROM email_events"))).scalar_one()
    assert raw == event


# ---- matching ------------------------------------------------------------------------------


async def test_match_by_metadata_id(register, post_sendgrid, get_email):
    email = await register()
    response = await post_sendgrid([sg_event("delivered", landed_email_id=email["id"])])
    assert response.json()["unmatched"] == 0
    assert (await get_email(email["id"]))["status"] == "delivered"


@pytest.mark.parametrize(
    "suffix",
    [
        ".filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
        ".recvd-5f8c7b6b8-2xq7x-1-5F5FC76C-6.1",
        "",
    ],
)
async def test_match_by_message_id_prefix_and_recipient(register, post_sendgrid, get_email, suffix):
    message_id = sg_message_id()
    email = await register(provider_message_id=message_id, recipient="Ada.Lovelace@Example.com")
    event = sg_event("delivered", "ada.lovelace@EXAMPLE.com", sg_message_id=f"{message_id}{suffix}")
    response = await post_sendgrid([event])
    assert response.json()["unmatched"] == 0
    assert (await get_email(email["id"]))["status"] == "delivered"


async def test_same_message_other_recipient_does_not_match(register, post_sendgrid, get_email):
    message_id = sg_message_id()
    email = await register(provider_message_id=message_id)
    event = sg_event("bounce", "someone.else@example.com", sg_message_id=f"{message_id}.x")
    assert (await post_sendgrid([event])).json()["unmatched"] == 1
    assert (await get_email(email["id"]))["status"] == "sent"


async def test_metadata_id_of_another_recipient_is_not_trusted(register, post_sendgrid, get_email):
    """One message to two people carries one custom arg; the cc'd person's bounce is not
    the registered recipient's."""
    message_id = sg_message_id()
    email = await register(provider_message_id=message_id, recipient="ada@example.com")
    event = sg_event(
        "bounce",
        "grace@example.com",
        landed_email_id=email["id"],
        sg_message_id=f"{message_id}.filter1",
    )
    assert (await post_sendgrid([event])).json()["unmatched"] == 1
    assert (await get_email(email["id"]))["status"] == "sent"


async def test_invalid_metadata_id_falls_back_to_message_id(register, post_sendgrid, get_email):
    message_id = sg_message_id()
    email = await register(provider_message_id=message_id)
    event = sg_event(
        "delivered", landed_email_id="not-a-uuid", sg_message_id=f"{message_id}.filter0001"
    )
    assert (await post_sendgrid([event])).json()["unmatched"] == 0
    assert (await get_email(email["id"]))["status"] == "delivered"


async def test_events_before_registration_are_adopted(
    client, service_headers, post_sendgrid, get_email
):
    message_id = sg_message_id()
    events = [
        sg_event("delivered", sg_message_id=f"{message_id}.filter1", timestamp=BASE_TS + 10),
        sg_event("open", sg_message_id=f"{message_id}.filter1", timestamp=BASE_TS + 90),
    ]
    answer = (await post_sendgrid(events)).json()
    assert answer["unmatched"] == 2
    response = await client.post(
        "/v1/emails",
        json={
            "org_id": "org-acme",
            "candidate_id": "c-9",
            "type": "interview_reminder",
            "recipient": "ada.lovelace@example.com",
            "subject": "Reminder",
            "provider_message_id": message_id,
            "sent_at": "2025-11-24T16:00:00Z",
        },
        headers=service_headers,
    )
    assert response.status_code == 201
    assert response.json()["status"] == "opened"
    got = await get_email(response.json()["id"])
    assert got["flags"]["open_count"] == 1
    assert len(got["events"]) == 2


# ---- statuses ------------------------------------------------------------------------------


async def post_story(register, post_sendgrid, get_email, *events_spec):
    email = await register()
    events = [
        sg_event(kind, landed_email_id=email["id"], timestamp=BASE_TS + offset, **extra)
        for kind, offset, extra in events_spec
    ]
    response = await post_sendgrid(events)
    assert response.status_code == 200
    return await get_email(email["id"])


@pytest.mark.parametrize(
    ("story", "status", "label"),
    [
        ([("processed", 0, {})], "sent", "Sent"),
        ([("processed", 0, {}), ("deferred", 5, {})], "delayed", "Delayed"),
        ([("processed", 0, {}), ("delivered", 5, {})], "delivered", "Delivered"),
        ([("delivered", 5, {}), ("open", 50, {})], "opened", "Opened"),
        ([("delivered", 5, {}), ("click", 50, {})], "opened", "Opened"),
        ([("delivered", 5, {}), ("deferred", 60, {})], "delivered", "Delivered"),
        ([("processed", 0, {}), ("bounce", 5, {})], "bounced", "Bounced"),
        ([("processed", 0, {}), ("dropped", 1, {})], "dropped", "Dropped"),
        ([("spamreport", 500, {})], "delivered", "Delivered"),
    ],
)
async def test_status_of_story(register, post_sendgrid, get_email, story, status, label):
    got = await post_story(register, post_sendgrid, get_email, *story)
    assert got["status"] == status
    assert got["badge"]["label"] == label


async def test_blocked_is_soft_and_loses_to_delivery_either_way(register, post_sendgrid, get_email):
    blocked = {"type": "blocked", "reason": "450 mailbox busy", "status": "4.2.1"}
    before = await post_story(
        register, post_sendgrid, get_email, ("bounce", 1, blocked), ("delivered", 60, {})
    )
    after = await post_story(
        register, post_sendgrid, get_email, ("delivered", 1, {}), ("bounce", 60, blocked)
    )
    assert before["status"] == after["status"] == "delivered"
    only = await post_story(register, post_sendgrid, get_email, ("bounce", 1, blocked))
    assert only["status"] == "bounced"
    assert only["bounce_type"] == "soft"
    assert only["badge"]["tone"] == "warning"


async def test_hard_bounce_after_delivery_wins(register, post_sendgrid, get_email):
    got = await post_story(
        register,
        post_sendgrid,
        get_email,
        ("delivered", 1, {}),
        ("open", 30, {}),
        ("bounce", 3600, {}),
    )
    assert got["status"] == "bounced"
    assert got["bounce_type"] == "hard"
    assert got["badge"]["icon"] == "✕"
    assert got["badge"]["reason"] == "550 5.1.1 The email account does not exist."
    assert "typos" in got["badge"]["advice"]


async def test_opens_after_hard_bounce_stay_on_timeline_only(register, post_sendgrid, get_email):
    got = await post_story(
        register, post_sendgrid, get_email, ("bounce", 1, {}), ("open", 30, {}), ("click", 31, {})
    )
    assert got["status"] == "bounced"
    assert got["flags"]["opened"] is False
    assert got["flags"]["open_count"] == 0
    assert got["flags"]["clicked"] is False
    assert [e["kind"] for e in got["events"]] == ["hard_bounce", "opened", "clicked"]


async def test_machine_open_is_delivery_not_opened(register, post_sendgrid, get_email):
    got = await post_story(
        register,
        post_sendgrid,
        get_email,
        ("processed", 0, {}),
        ("open", 3, {"sg_machine_open": True}),
    )
    assert got["status"] == "delivered"
    assert got["flags"]["opened"] is False
    assert got["flags"]["machine_open_count"] == 1
    assert got["events"][1]["machine"] is True


async def test_dropped_badge_says_why_and_what_to_do(register, post_sendgrid, get_email):
    got = await post_story(
        register, post_sendgrid, get_email, ("dropped", 0, {"reason": "Unsubscribed Address"})
    )
    assert got["badge"] == {
        "label": "Dropped",
        "icon": "⚠",
        "tone": "danger",
        "meaning": "The email provider did not send this email.",
        "reason": "Unsubscribed Address",
        "advice": got["badge"]["advice"],
    }
    assert "unsubscribed" in got["badge"]["advice"].lower()


async def test_flags(register, post_sendgrid, get_email):
    got = await post_story(
        register,
        post_sendgrid,
        get_email,
        ("delivered", 1, {}),
        ("open", 100, {}),
        ("open", 50, {}),
        ("click", 120, {}),
        ("spamreport", 200, {}),
        ("group_unsubscribe", 300, {}),
    )
    flags = got["flags"]
    assert flags["open_count"] == 2
    assert flags["first_opened_at"] == "2025-11-24T16:00:50Z"
    assert flags["last_opened_at"] == "2025-11-24T16:01:40Z"
    assert flags["clicked"] is True
    assert flags["complained"] is True
    assert flags["unsubscribed"] is True


async def test_resubscribe_after_unsubscribe_clears_flag(register, post_sendgrid, get_email):
    got = await post_story(
        register,
        post_sendgrid,
        get_email,
        ("group_resubscribe", 400, {}),
        ("group_unsubscribe", 300, {}),
    )
    assert got["flags"]["unsubscribed"] is False


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1_764_000_000, "2025-11-24T16:00:00Z"),
        (1_764_000_000_123, "2025-11-24T16:00:00.123000Z"),
        (1_764_000_000.5, "2025-11-24T16:00:00.500000Z"),
    ],
)
async def test_timestamp_units(register, post_sendgrid, get_email, timestamp, expected):
    email = await register()
    await post_sendgrid([sg_event("delivered", landed_email_id=email["id"], timestamp=timestamp)])
    got = await get_email(email["id"])
    assert got["status_at"] == expected


# ---- the database is down ------------------------------------------------------------------


async def test_database_down_is_503_with_retry_after(sendgrid_keys, jwt_keys):
    from app.main import create_app

    settings = make_settings(
        "postgresql+asyncpg://postgres@127.0.0.1:1/landed",
        sendgrid_keys,
        jwt_keys,
        db_pool_timeout_seconds=1,
    )
    application = create_app(settings)
    async with running(application) as c:
        body = sendgrid_body([sg_event("delivered")])
        response = await c.post(
            "/v1/webhooks/sendgrid", content=body, headers=sendgrid_keys.sign(body)
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "30"
        assert response.json()["error"]["code"] == "database_unavailable"
        history = await c.get(
            "/v1/candidates/cand-1/contact-history",
            headers={"Authorization": f"Bearer {jwt_keys.token('org-acme')}"},
        )
        assert history.status_code == 503
        assert history.headers["Retry-After"] == "30"
        assert history.json()["error"]["code"] == "database_unavailable"
        ready = await c.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["Retry-After"] == "30"
        assert (await c.get("/healthz")).status_code == 200


def test_the_metadata_key_is_configurable():
    from app.providers.base import InboundRequest
    from app.providers.sendgrid import SendGridAdapter

    email_id = "0c6f4d2e-7a51-4b8e-9f3a-2d1c5b7e8a90"
    adapter = SendGridAdapter([], tolerance_seconds=60, metadata_key="ats_email")
    raw = sendgrid_body(
        [
            sg_event("delivered", ats_email=email_id),
            sg_event("delivered", landed_email_id=email_id),  # the default name: not ours now
        ]
    )
    events = adapter.parse(InboundRequest(raw=raw, headers={})).events
    assert [str(e.claimed_email_id) if e.claimed_email_id else None for e in events] == [
        email_id,
        None,
    ]


async def test_our_id_beats_a_message_id_that_points_at_another_email(
    register, post_sendgrid, get_email
):
    message_id = sg_message_id()
    by_message_id = await register(provider_message_id=message_id, external_id=unique("a"))
    by_our_id = await register(external_id=unique("b"))
    event = sg_event("delivered", sg_message_id=f"{message_id}.f", landed_email_id=by_our_id["id"])
    assert (await post_sendgrid([event])).json()["unmatched"] == 0
    assert (await get_email(by_our_id["id"]))["status"] == "delivered"
    assert (await get_email(by_message_id["id"]))["status"] == "sent"
