"""Resend adapter, pure: Svix signatures, event mapping, recipients, tags, quarantine."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
import pytest
from pydantic import SecretStr

from app.config import Settings
from app.domain.events import EventKind, FailureCategory
from app.errors import MalformedPayload, SignatureInvalid
from app.providers.base import InboundRequest
from app.providers.registry import PROVIDER_NAMES, adapter_class
from app.providers.resend import (
    DEFAULT_TOLERANCE_SECONDS,
    ResendAdapter,
    decode_secret,
    sign,
)
from tests.fixtures.providers import resend as rs

NOW = 1_764_000_000
EMAIL_ID = "0c6f4d2e-7a51-4b8e-9f3a-2d1c5b7e8a90"  # the id in tests/payloads/resend/*.json
RESEND_ID = "4ef9a417-02e9-4d39-ad75-9611e0fcc33c"


def adapter(secrets: list[str] | None = None, *, now: float = NOW, **kwargs: Any) -> ResendAdapter:
    return ResendAdapter(
        [decode_secret(s) for s in (secrets or [rs.CURRENT_SECRET, rs.PREVIOUS_SECRET])],
        tolerance_seconds=kwargs.pop("tolerance_seconds", DEFAULT_TOLERANCE_SECONDS),
        metadata_key=kwargs.pop("metadata_key", "landed_email_id"),
        clock=lambda: now,
    )


def request(raw: bytes, headers: dict[str, str] | None = None) -> InboundRequest:
    return InboundRequest(raw=raw, headers=headers or {})


def signed(raw: bytes, **kwargs: Any) -> InboundRequest:
    kwargs.setdefault("timestamp", NOW)
    return request(raw, rs.headers(raw, **kwargs))


def parse(event: dict[str, Any], **kwargs: Any):
    raw = rs.body(event)
    return adapter(**kwargs).parse(signed(raw))


def parse_one(event: dict[str, Any], **kwargs: Any):
    batch = parse(event, **kwargs)
    assert batch.rejects == []
    assert len(batch.events) == 1
    return batch.events[0]


# ---- the Standard Webhooks vector ------------------------------------------------------------
# standard-webhooks/standard-webhooks libraries/python/tests/test_webhooks.py (test_sign_function
# and the fixtures above it): secret, message id, timestamp, payload and expected signature.

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = "1614265330"
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def vector_headers(prefix: str = "webhook", signature: str = VECTOR_SIGNATURE) -> dict[str, str]:
    return {
        f"{prefix}-id": VECTOR_ID,
        f"{prefix}-timestamp": VECTOR_TS,
        f"{prefix}-signature": f"v1,{signature}",
    }


def test_sign_matches_the_published_vector():
    assert sign(decode_secret(VECTOR_SECRET), VECTOR_ID, VECTOR_TS, VECTOR_BODY) == (
        VECTOR_SIGNATURE
    )


@pytest.mark.parametrize("prefix", ["webhook", "svix"])
async def test_published_vector_verifies(prefix):
    vector = adapter([VECTOR_SECRET], now=int(VECTOR_TS))
    assert await vector.verify(request(VECTOR_BODY, vector_headers(prefix)))


async def test_published_invalid_signature_is_refused():
    # The library's own "invalid signature" case: the last byte differs.
    vector = adapter([VECTOR_SECRET], now=int(VECTOR_TS))
    bad = vector_headers(signature="g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=")
    with pytest.raises(SignatureInvalid):
        await vector.verify(request(VECTOR_BODY, bad))


async def test_published_vector_with_several_signatures_verifies():
    vector = adapter([VECTOR_SECRET], now=int(VECTOR_TS))
    headers = vector_headers()
    headers["webhook-signature"] = " ".join(
        [
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            headers["webhook-signature"],
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        ]
    )
    assert await vector.verify(request(VECTOR_BODY, headers))


def test_secret_prefix_and_padding_are_optional():
    key = decode_secret(VECTOR_SECRET)
    assert decode_secret(VECTOR_SECRET.removeprefix("whsec_")) == key
    unpadded = "whsec_" + base64.b64encode(b"0123456789a").decode().rstrip("=")
    assert decode_secret(unpadded) == b"0123456789a"


@pytest.mark.parametrize("secret", ["whsec_", "whsec_not base64!", "whsec_%%%%"])
def test_bad_secret_is_refused(secret):
    with pytest.raises(ValueError, match="LANDED_RESEND__SIGNING_SECRET"):
        decode_secret(secret)


# ---- one test per way authentication can fail ------------------------------------------------

RAW = rs.body(rs.event("email.delivered"))


async def test_valid_signature_verifies_without_a_nonce():
    verified = await adapter().verify(signed(RAW))
    assert verified.nonce is None  # the body is signed: nothing to remember


async def test_unbranded_headers_verify():
    assert await adapter().verify(signed(RAW, prefix="webhook"))


@pytest.mark.parametrize("missing", ["svix-id", "svix-timestamp", "svix-signature"])
async def test_missing_header_is_refused(missing):
    headers = rs.headers(RAW, timestamp=NOW)
    del headers[missing]
    with pytest.raises(SignatureInvalid, match="Missing"):
        await adapter().verify(request(RAW, headers))


async def test_no_headers_at_all_is_refused():
    with pytest.raises(SignatureInvalid):
        await adapter().verify(request(RAW))


async def test_mixed_header_families_are_refused():
    headers = rs.headers(RAW, timestamp=NOW)
    headers["webhook-signature"] = headers.pop("svix-signature")
    with pytest.raises(SignatureInvalid):
        await adapter().verify(request(RAW, headers))


async def test_signature_by_unknown_secret_is_refused():
    with pytest.raises(SignatureInvalid):
        await adapter().verify(signed(RAW, secret=rs.STRANGER_SECRET))


async def test_previous_secret_verifies_during_rotation():
    assert await adapter().verify(signed(RAW, secret=rs.PREVIOUS_SECRET))


async def test_tampered_body_is_refused():
    headers = rs.headers(RAW, timestamp=NOW)
    tampered = RAW.replace(b"email.delivered", b"email.bounced")
    with pytest.raises(SignatureInvalid):
        await adapter().verify(request(tampered, headers))


async def test_reserialised_body_is_refused():
    headers = rs.headers(RAW, timestamp=NOW)
    reserialised = orjson.dumps(orjson.loads(RAW), option=orjson.OPT_INDENT_2)
    with pytest.raises(SignatureInvalid):
        await adapter().verify(request(reserialised, headers))


@pytest.mark.parametrize("header", ["svix-id", "svix-timestamp"])
async def test_tampered_signed_header_is_refused(header):
    headers = rs.headers(RAW, timestamp=NOW)
    headers[header] = rs.msg_id() if header == "svix-id" else str(NOW - 1)
    with pytest.raises(SignatureInvalid):
        await adapter().verify(request(RAW, headers))


async def test_stale_timestamp_is_refused():
    with pytest.raises(SignatureInvalid, match="window"):
        await adapter().verify(signed(RAW, timestamp=NOW - DEFAULT_TOLERANCE_SECONDS - 1))


async def test_future_timestamp_is_refused():
    with pytest.raises(SignatureInvalid, match="window"):
        await adapter().verify(signed(RAW, timestamp=NOW + DEFAULT_TOLERANCE_SECONDS + 1))


@pytest.mark.parametrize("offset", [-DEFAULT_TOLERANCE_SECONDS, DEFAULT_TOLERANCE_SECONDS])
async def test_timestamps_at_the_edges_are_accepted(offset):
    assert await adapter().verify(signed(RAW, timestamp=NOW + offset))


async def test_configured_tolerance_is_applied():
    with pytest.raises(SignatureInvalid):
        await adapter(tolerance_seconds=30).verify(signed(RAW, timestamp=NOW - 31))


@pytest.mark.parametrize("timestamp", ["abc", "-5", "1.7e9", "", " 1764000000", "1" * 13])
async def test_malformed_timestamp_is_refused(timestamp):
    headers = rs.headers(RAW, timestamp=NOW)
    headers["svix-timestamp"] = timestamp
    with pytest.raises(SignatureInvalid):
        await adapter().verify(request(RAW, headers))


@pytest.mark.parametrize(
    "signature",
    [
        "v1,not base64!",
        "v1,",
        "v1",
        "v2,{good}",  # a valid signature under an unknown version is not trusted
        "{good}",  # no version prefix
        "v1,AAAA",
        "v1a,{good}",
    ],
)
async def test_garbled_signature_header_is_refused(signature):
    headers = rs.headers(RAW, timestamp=NOW)
    good = headers["svix-signature"].removeprefix("v1,")
    headers["svix-signature"] = signature.format(good=good)
    with pytest.raises(SignatureInvalid):
        await adapter().verify(request(RAW, headers))


async def test_overlong_message_id_is_refused():
    headers = rs.headers(RAW, timestamp=NOW, message_id="m" * 300)
    with pytest.raises(SignatureInvalid):
        await adapter().verify(request(RAW, headers))


# ---- settings --------------------------------------------------------------------------------


def settings(**values: str) -> Settings:
    return Settings(
        database_url="postgresql+asyncpg://unused/unused",
        providers={"resend": {k: SecretStr(v) for k, v in values.items()}},
    )


def test_unset_secret_disables_the_provider():
    assert ResendAdapter.from_settings(settings()) is None
    assert ResendAdapter.from_settings(settings(signing_secret="")) is None


async def test_configured_secrets_are_used():
    configured = ResendAdapter.from_settings(
        settings(signing_secret=f"{rs.CURRENT_SECRET}, {rs.PREVIOUS_SECRET}")
    )
    assert configured is not None
    assert await configured.verify(request(RAW, rs.headers(RAW, secret=rs.PREVIOUS_SECRET)))


def test_bad_secret_stops_start_up():
    with pytest.raises(ValueError, match="LANDED_RESEND__SIGNING_SECRET"):
        ResendAdapter.from_settings(settings(signing_secret="whsec_***"))


def test_registered_under_its_name():
    assert "resend" in PROVIDER_NAMES
    assert adapter_class("resend") is ResendAdapter


# ---- mapping: every stored payload -----------------------------------------------------------

# file → (kind, failure category, reason prefix)
PAYLOAD_CASES: dict[str, tuple[EventKind, FailureCategory | None, str | None]] = {
    "sent.json": (EventKind.ACCEPTED, None, None),
    "delivered.json": (EventKind.DELIVERED, None, None),
    "delivered_tag_list.json": (EventKind.DELIVERED, None, None),
    "delivery_delayed.json": (EventKind.DEFERRED, None, None),
    "bounced_permanent.json": (
        EventKind.HARD_BOUNCE,
        FailureCategory.INVALID_ADDRESS,
        "The recipient's email provider sent a hard bounce",
    ),
    "bounced_transient.json": (
        EventKind.SOFT_BOUNCE,
        FailureCategory.MAILBOX_UNAVAILABLE,
        "The recipient's email provider sent a bounce message because",
    ),
    "bounced_suppressed.json": (
        EventKind.DROPPED,
        FailureCategory.SUPPRESSED_BOUNCE,
        "The recipient's email address is on the suppression list",
    ),
    "complained.json": (EventKind.COMPLAINED, None, None),
    "opened.json": (EventKind.OPENED, None, None),
    "clicked.json": (EventKind.CLICKED, None, None),
    "failed.json": (EventKind.DROPPED, FailureCategory.TECHNICAL, "reached_daily_quota"),
    "suppressed.json": (
        EventKind.DROPPED,
        FailureCategory.SUPPRESSED_BOUNCE,
        "Resend has suppressed sending to this address",
    ),
    "scheduled.json": (EventKind.UNKNOWN, None, None),
}
SPECIAL = {"delivered_two_recipients.json", "contact_created.json"}


def test_every_stored_payload_has_a_case():
    assert {p.name for p in rs.PAYLOADS.glob("*.json")} == set(PAYLOAD_CASES) | SPECIAL


@pytest.mark.parametrize(("name", "expected"), PAYLOAD_CASES.items())
def test_stored_payload_maps(name, expected):
    kind, category, reason = expected
    payload = rs.load(name)
    event = parse_one(payload)
    assert (event.kind, event.failure_category) == (kind, category)
    if reason is None:
        assert event.reason is None
    else:
        assert event.reason is not None
        assert event.reason.startswith(reason)
    assert event.provider == "resend"
    assert event.provider_event_type == payload["type"]
    assert event.recipient == "grace.hopper@example.org"
    assert event.provider_message_id == RESEND_ID
    assert event.claimed_email_id == UUID(EMAIL_ID)
    assert event.occurred_at == datetime.fromisoformat(payload["created_at"])
    assert event.machine is False  # Resend flags no machine opens
    assert event.smtp_status is None
    assert event.raw == payload


def test_click_keeps_the_link():
    assert parse_one(rs.load("clicked.json")).url == (
        "https://careers.example.com/interview/slot?c=42"
    )
    assert parse_one(rs.load("opened.json")).url is None


@pytest.mark.parametrize(
    ("bounce", "kind", "category"),
    [
        ({"type": "Permanent", "subType": "General"}, EventKind.HARD_BOUNCE, "invalid_address"),
        ({"type": "Permanent", "subType": "NoEmail"}, EventKind.HARD_BOUNCE, "unknown"),
        ({"type": "Undetermined", "subType": "Undetermined"}, EventKind.HARD_BOUNCE, "unknown"),
        ({"type": "Transient", "subType": "General"}, EventKind.SOFT_BOUNCE, "unknown"),
        (
            {"type": "transient", "subType": "MailboxFull"},
            EventKind.SOFT_BOUNCE,
            "mailbox_unavailable",
        ),
        ({"type": "Transient", "subType": "MessageTooLarge"}, EventKind.SOFT_BOUNCE, "content"),
        ({"type": "Transient", "subType": "ContentRejected"}, EventKind.SOFT_BOUNCE, "content"),
        ({"type": "Transient", "subType": "AttachmentRejected"}, EventKind.SOFT_BOUNCE, "content"),
        ({"type": "Soft"}, EventKind.SOFT_BOUNCE, "unknown"),
        ({"type": "Permanent", "subType": "Suppressed"}, EventKind.DROPPED, "suppressed_bounce"),
        (
            {"type": "Permanent", "subType": "OnAccountSuppressionList"},
            EventKind.DROPPED,
            "suppressed_bounce",
        ),
        ({}, EventKind.HARD_BOUNCE, "unknown"),
        ("not an object", EventKind.HARD_BOUNCE, "unknown"),
    ],
)
def test_bounce_classification(bounce, kind, category):
    event = parse_one(rs.event("email.bounced", bounce=bounce))
    assert (event.kind, event.failure_category) == (kind, FailureCategory(category))


@pytest.mark.parametrize(
    ("suppressed", "category"),
    [
        (
            {"type": "OnAccountSuppressionList", "message": "on the suppression list"},
            "suppressed_bounce",
        ),
        (
            {"type": "OnAccountSuppressionList", "message": "it previously complained"},
            "suppressed_complaint",
        ),
        ({"type": "OnAccountSuppressionList", "reason": "marked_as_spam"}, "suppressed_complaint"),
        (
            {"type": "OnAccountSuppressionList", "message": "the contact unsubscribed"},
            "suppressed_unsubscribe",
        ),
        ({}, "suppressed_bounce"),
    ],
)
def test_suppression_category(suppressed, category):
    event = parse_one(rs.event("email.suppressed", suppressed=suppressed))
    assert event.kind is EventKind.DROPPED
    assert event.failure_category == FailureCategory(category)


@pytest.mark.parametrize(
    ("failed", "category", "reason"),
    [
        ({"reason": "reached_daily_quota"}, "technical", "reached_daily_quota"),
        ({"reason": "domain_not_verified"}, "technical", "domain_not_verified"),
        ({"reason": "something_new"}, "unknown", "something_new"),
        ({}, "unknown", None),
        (None, "unknown", None),
    ],
)
def test_failed_event_is_dropped(failed, category, reason):
    event = parse_one(rs.event("email.failed", failed=failed))
    assert event.kind is EventKind.DROPPED
    assert event.failure_category == FailureCategory(category)
    assert event.reason == reason


@pytest.mark.parametrize(
    "kind", ["email.received", "email.delivered_delayed", "email.something_new"]
)
def test_unknown_email_types_are_kept_as_unknown(kind):
    event = parse_one(rs.event(kind))
    assert event.kind is EventKind.UNKNOWN
    assert event.provider_event_type == kind
    assert event.recipient == "ada.lovelace@example.com"


def test_contact_event_is_kept_as_unknown_without_a_recipient():
    event = parse_one(rs.load("contact_created.json"))
    assert event.kind is EventKind.UNKNOWN
    assert (event.recipient, event.provider_message_id, event.claimed_email_id) == (
        None,
        None,
        None,
    )


# ---- recipients, ids, tags, timestamps -------------------------------------------------------


def test_one_event_per_recipient_with_recipient_in_the_key():
    raw = rs.body(rs.load("delivered_two_recipients.json"))
    request_ = signed(raw, message_id="msg_TwoRecipients")
    events = adapter().parse(request_).events
    assert [e.recipient for e in events] == ["grace.hopper@example.org", "Hiring.Panel@example.org"]
    assert [e.dedupe_key for e in events] == [
        "svix:msg_TwoRecipients:grace.hopper@example.org",
        "svix:msg_TwoRecipients:hiring.panel@example.org",
    ]
    assert {e.provider_message_id for e in events} == {RESEND_ID}


def test_single_recipient_key_is_the_svix_id():
    raw = rs.body(rs.event("email.delivered"))
    (event,) = adapter().parse(signed(raw, message_id="msg_Single")).events
    assert event.dedupe_key == "svix:msg_Single"


def test_unbranded_id_is_used_too():
    raw = rs.body(rs.event("email.delivered"))
    (event,) = adapter().parse(signed(raw, message_id="msg_Plain", prefix="webhook")).events
    assert event.dedupe_key == "svix:msg_Plain"


def test_repeated_recipient_gives_one_event():
    events = parse(rs.event("email.delivered", ["a@example.com", "A@Example.com"])).events
    assert [e.recipient for e in events] == ["a@example.com"]


def test_bare_string_recipient_is_accepted():
    assert parse_one(rs.event("email.delivered", "solo@example.com")).recipient == (
        "solo@example.com"
    )


def test_without_an_id_header_the_key_comes_from_the_content():
    raw = rs.body(rs.event("email.delivered"))
    (first,) = adapter().parse(request(raw)).events
    (second,) = adapter().parse(request(raw)).events
    assert first.dedupe_key.startswith("content:")
    assert first.dedupe_key == second.dedupe_key


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"landed_email_id": EMAIL_ID}, UUID(EMAIL_ID)),
        ([{"name": "landed_email_id", "value": EMAIL_ID}], UUID(EMAIL_ID)),
        (
            [{"name": "category", "value": "x"}, {"name": "landed_email_id", "value": EMAIL_ID}],
            UUID(EMAIL_ID),
        ),
        ({"landed_email_id": "nope"}, None),
        ([{"name": "landed_email_id"}], None),
        (["landed_email_id"], None),
        ({}, None),
        ([], None),
        ("landed_email_id", None),
    ],
)
def test_our_id_comes_from_tags(tags, expected):
    assert parse_one(rs.event("email.delivered", tags=tags)).claimed_email_id == expected


def test_metadata_key_is_configurable():
    event = rs.event("email.delivered", tags={"x_email": EMAIL_ID})
    assert parse_one(event, metadata_key="x_email").claimed_email_id == UUID(EMAIL_ID)
    assert parse_one(event).claimed_email_id is None


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        ("2024-11-22T23:41:12.126Z", datetime(2024, 11, 22, 23, 41, 12, 126000, tzinfo=UTC)),
        ("2024-11-22T23:41:12Z", datetime(2024, 11, 22, 23, 41, 12, tzinfo=UTC)),
        ("2024-11-23T01:41:12.5+02:00", datetime(2024, 11, 22, 23, 41, 12, 500000, tzinfo=UTC)),
    ],
)
def test_event_time_is_the_top_level_created_at(created_at, expected):
    assert parse_one(rs.event("email.delivered", created_at=created_at)).occurred_at == expected


# ---- what is quarantined, what is refused ----------------------------------------------------


@pytest.mark.parametrize(
    ("event", "why"),
    [
        ({"created_at": rs.CREATED_AT, "data": {"to": ["a@example.com"]}}, "type"),
        ({"type": 7, "created_at": rs.CREATED_AT, "data": {}}, "type"),
        ({"type": "email.delivered", "created_at": rs.CREATED_AT}, "data"),
        ({"type": "email.delivered", "created_at": rs.CREATED_AT, "data": []}, "data"),
        ({"type": "email.delivered", "data": {"to": ["a@example.com"]}}, "created_at"),
        (
            {"type": "email.delivered", "created_at": "yesterday", "data": {"to": ["a@ex.com"]}},
            "created_at",
        ),
        ({"type": "email.delivered", "created_at": rs.CREATED_AT, "data": {}}, "data.to"),
        ({"type": "email.delivered", "created_at": rs.CREATED_AT, "data": {"to": []}}, "data.to"),
        (
            {"type": "email.delivered", "created_at": rs.CREATED_AT, "data": {"to": [None]}},
            "data.to",
        ),
        (
            {"type": "email.delivered", "created_at": rs.CREATED_AT, "data": {"to": {"a": 1}}},
            "data.to",
        ),
    ],
)
def test_uninterpretable_event_is_quarantined(event, why):
    batch = parse(event)
    assert batch.events == []
    (reject,) = batch.rejects
    assert why in reject.reason
    assert reject.raw == event


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b'[{"type": "email.sent"}]', b"null"])
def test_body_that_is_not_a_json_object_is_malformed(raw):
    with pytest.raises(MalformedPayload):
        adapter().parse(signed(raw))
