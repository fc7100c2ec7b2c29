"""Mailgun adapter, pure: signature checks, event mapping, timestamps, metadata, quarantine."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
import pytest
from pydantic import SecretStr

from app.config import Settings
from app.domain.events import EventKind, FailureCategory
from app.errors import MalformedPayload, SignatureInvalid
from app.providers.base import FUTURE_SKEW_SECONDS, InboundRequest
from app.providers.mailgun import (
    DEFAULT_TOLERANCE_SECONDS,
    MailgunAdapter,
    classify_failure,
    is_machine,
    signature_for,
)
from app.providers.registry import PROVIDER_NAMES, adapter_class
from tests.fixtures.providers import mailgun as mg

NOW = 1_764_000_000
EMAIL_ID = "0c6f4d2e-7a51-4b8e-9f3a-2d1c5b7e8a90"  # the id in tests/payloads/mailgun/*.json


def adapter(keys: list[str] | None = None, *, now: float = NOW, **kwargs: Any) -> MailgunAdapter:
    return MailgunAdapter(
        keys if keys is not None else [mg.CURRENT_KEY, mg.PREVIOUS_KEY],
        tolerance_seconds=kwargs.pop("tolerance_seconds", DEFAULT_TOLERANCE_SECONDS),
        metadata_key=kwargs.pop("metadata_key", "landed_email_id"),
        clock=lambda: now,
    )


def request(raw: bytes) -> InboundRequest:
    return InboundRequest(raw=raw, headers={})


def signed(event_data: Any = None, **sign: Any) -> bytes:
    sign.setdefault("timestamp", NOW)
    return mg.body(mg.event("delivered") if event_data is None else event_data, **sign)


def parse_one(event_data: dict[str, Any], **kwargs: Any):
    batch = adapter(**kwargs).parse(request(signed(event_data)))
    assert len(batch.events) == 1, batch.rejects
    return batch.events[0]


# ---- signatures: one test per way authentication can fail ------------------------------------


async def test_valid_signature_returns_the_token_as_nonce():
    block = mg.signature_block(timestamp=NOW)
    verified = await adapter().verify(request(mg.body(mg.event("delivered"), signature=block)))
    assert verified.nonce == block["token"]


# Symfony's Mailgun bridge fixture (Tests/Webhook/Fixtures/permanent_failure.json and its test
# key): a signature computed by someone else, recomputed here.
SYMFONY_KEY = "key-0p6mqbf74lb20gzq9f4dhpn9rg3zyk26"
SYMFONY_BLOCK = {
    "token": "fff0ebc59c0516f4ce0823212a2f45e5c67814420b99fe558b",
    "timestamp": "1661590666",
    "signature": "a0cd251821d8fd56a2130b541becc8e441023574e602fe9829a9ab9fbfdea33f",
}


def test_signature_matches_a_published_vector():
    assert (
        signature_for(SYMFONY_KEY, SYMFONY_BLOCK["timestamp"], SYMFONY_BLOCK["token"])
        == SYMFONY_BLOCK["signature"]
    )


async def test_published_vector_verifies():
    raw = orjson.dumps({"signature": SYMFONY_BLOCK, "event-data": {"event": "failed"}})
    verified = await adapter([SYMFONY_KEY], now=1661590666 + 60).verify(request(raw))
    assert verified.nonce == SYMFONY_BLOCK["token"]


async def test_published_vector_fails_with_another_key():
    raw = orjson.dumps({"signature": SYMFONY_BLOCK, "event-data": {"event": "failed"}})
    with pytest.raises(SignatureInvalid):
        await adapter([mg.CURRENT_KEY], now=1661590666).verify(request(raw))


async def test_missing_signature_block_is_refused():
    raw = orjson.dumps({"event-data": mg.event("delivered")})
    with pytest.raises(SignatureInvalid, match="Missing"):
        await adapter().verify(request(raw))


@pytest.mark.parametrize("field", ["timestamp", "token", "signature"])
async def test_missing_signature_field_is_refused(field):
    block = mg.signature_block(timestamp=NOW)
    del block[field]
    with pytest.raises(SignatureInvalid):
        await adapter().verify(request(mg.body(mg.event("delivered"), signature=block)))


@pytest.mark.parametrize(
    "signature", ["", "not-hex-at-all", "zz" * 32, "ab" * 31, "ab" * 33, 12345, None]
)
async def test_garbled_signature_is_refused(signature):
    block: dict[str, Any] = mg.signature_block(timestamp=NOW)
    block["signature"] = signature
    with pytest.raises(SignatureInvalid):
        await adapter().verify(request(mg.body(mg.event("delivered"), signature=block)))


async def test_signature_by_unknown_key_is_refused():
    raw = signed(key=mg.STRANGER_KEY)
    with pytest.raises(SignatureInvalid):
        await adapter().verify(request(raw))


async def test_previous_key_verifies_during_rotation():
    assert (await adapter().verify(request(signed(key=mg.PREVIOUS_KEY)))).nonce


async def test_parent_account_signature_verifies():
    """Subaccount events carry `parent-signature`, made with the parent account's key."""
    block = mg.signature_block(key=mg.STRANGER_KEY, timestamp=NOW)
    block["parent-signature"] = signature_for(mg.CURRENT_KEY, block["timestamp"], block["token"])
    assert await adapter().verify(request(mg.body(mg.event("delivered"), signature=block)))


async def test_uppercase_hex_signature_verifies():
    block = mg.signature_block(timestamp=NOW)
    block["signature"] = block["signature"].upper()
    assert await adapter().verify(request(mg.body(mg.event("delivered"), signature=block)))


@pytest.mark.parametrize("change", ["timestamp", "token"])
async def test_tampered_signed_field_is_refused(change):
    block = mg.signature_block(timestamp=NOW)
    block[change] = str(NOW - 1) if change == "timestamp" else mg.token()
    with pytest.raises(SignatureInvalid):
        await adapter().verify(request(mg.body(mg.event("delivered"), signature=block)))


async def test_stale_timestamp_is_refused():
    raw = signed(timestamp=NOW - DEFAULT_TOLERANCE_SECONDS - 1)
    with pytest.raises(SignatureInvalid, match="window"):
        await adapter().verify(request(raw))


async def test_timestamp_at_the_edge_of_the_window_is_accepted():
    assert await adapter().verify(request(signed(timestamp=NOW - DEFAULT_TOLERANCE_SECONDS)))


async def test_configured_tolerance_is_applied():
    raw = signed(timestamp=NOW - 901)
    with pytest.raises(SignatureInvalid):
        await adapter(tolerance_seconds=900).verify(request(raw))


async def test_future_timestamp_is_refused():
    raw = signed(timestamp=NOW + FUTURE_SKEW_SECONDS + 1)
    with pytest.raises(SignatureInvalid, match="window"):
        await adapter().verify(request(raw))


async def test_small_clock_skew_is_accepted():
    assert await adapter().verify(request(signed(timestamp=NOW + 60)))


@pytest.mark.parametrize("timestamp", ["abc", "-5", "1.7e9", " 1764000000", "1" * 13, True])
async def test_malformed_timestamp_is_refused(timestamp):
    block: dict[str, Any] = mg.signature_block(timestamp=NOW)
    block["timestamp"] = timestamp
    with pytest.raises(SignatureInvalid):
        await adapter().verify(request(mg.body(mg.event("delivered"), signature=block)))


async def test_integer_timestamp_verifies():
    block: dict[str, Any] = mg.signature_block(timestamp=NOW)
    block["timestamp"] = NOW
    assert await adapter().verify(request(mg.body(mg.event("delivered"), signature=block)))


async def test_overlong_token_is_refused():
    block = mg.signature_block(timestamp=NOW, token_="t" * 500)
    with pytest.raises(SignatureInvalid):
        await adapter().verify(request(mg.body(mg.event("delivered"), signature=block)))


@pytest.mark.parametrize("raw", [b"", b"not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"null"])
async def test_body_that_is_not_a_json_object_is_malformed(raw):
    with pytest.raises(MalformedPayload):
        await adapter().verify(request(raw))


async def test_the_body_is_not_signed():
    """Mailgun's documented weakness: another body with a valid block verifies; the nonce
    (the token) is what lets the webhook service refuse it."""
    block = mg.signature_block(timestamp=NOW)
    first = await adapter().verify(request(mg.body(mg.event("delivered"), signature=block)))
    second = await adapter().verify(request(mg.body(mg.event("failed"), signature=block)))
    assert first.nonce == second.nonce == block["token"]


# ---- settings --------------------------------------------------------------------------------


def settings(**values: str) -> Settings:
    return Settings(
        database_url="postgresql+asyncpg://unused/unused",
        providers={"mailgun": {k: SecretStr(v) for k, v in values.items()}},
    )


def test_unset_key_disables_the_provider():
    assert MailgunAdapter.from_settings(settings()) is None
    assert MailgunAdapter.from_settings(settings(signing_key=" , ")) is None


async def test_configured_keys_and_tolerance_are_used():
    configured = MailgunAdapter.from_settings(
        settings(
            signing_key=f" {mg.CURRENT_KEY} ,{mg.PREVIOUS_KEY}", timestamp_tolerance_seconds="60"
        )
    )
    assert configured is not None
    rotated = mg.body(mg.event("delivered"), key=mg.PREVIOUS_KEY)
    assert await configured.verify(request(rotated))
    stale = mg.body(mg.event("delivered"), timestamp=int(datetime.now(UTC).timestamp()) - 120)
    with pytest.raises(SignatureInvalid):
        await configured.verify(request(stale))


def test_invalid_tolerance_stops_start_up():
    with pytest.raises(ValueError, match="LANDED_MAILGUN"):
        MailgunAdapter.from_settings(settings(signing_key="k", timestamp_tolerance_seconds="0"))


def test_registered_under_its_name():
    assert "mailgun" in PROVIDER_NAMES
    assert adapter_class("mailgun") is MailgunAdapter


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("<20251124.abc@mg.example.com>", "20251124.abc@mg.example.com"),
        ("20251124.abc@mg.example.com", "20251124.abc@mg.example.com"),
        ("  <20251124.abc@mg.example.com> ", "20251124.abc@mg.example.com"),
    ],
)
def test_canonical_message_id_drops_angle_brackets(given, stored):
    assert MailgunAdapter.canonical_message_id(given) == stored


# ---- mapping: every stored payload -----------------------------------------------------------

# file → (kind, machine, failure category, smtp status)
PAYLOAD_CASES: dict[str, tuple[EventKind, bool, FailureCategory | None, str | None]] = {
    "accepted.json": (EventKind.ACCEPTED, False, None, None),
    "delivered.json": (EventKind.DELIVERED, False, None, None),
    "opened.json": (EventKind.OPENED, False, None, None),
    "opened_apple_mpp.json": (EventKind.OPENED, True, None, None),
    "opened_gmail_proxy.json": (EventKind.OPENED, False, None, None),
    "clicked.json": (EventKind.CLICKED, False, None, None),
    "clicked_scanner.json": (EventKind.CLICKED, True, None, None),
    "unsubscribed.json": (EventKind.UNSUBSCRIBED, False, None, None),
    "complained.json": (EventKind.COMPLAINED, False, None, None),
    "failed_permanent.json": (
        EventKind.HARD_BOUNCE,
        False,
        FailureCategory.INVALID_ADDRESS,
        "5.1.1",
    ),
    "failed_temporary.json": (
        EventKind.DEFERRED,
        False,
        FailureCategory.MAILBOX_UNAVAILABLE,
        "4.2.2",
    ),
    "failed_too_old.json": (EventKind.SOFT_BOUNCE, False, FailureCategory.TECHNICAL, "602"),
    "failed_suppress_bounce.json": (
        EventKind.DROPPED,
        False,
        FailureCategory.SUPPRESSED_BOUNCE,
        "605",
    ),
    "failed_suppress_complaint.json": (
        EventKind.DROPPED,
        False,
        FailureCategory.SUPPRESSED_COMPLAINT,
        "607",
    ),
    "failed_delayed_bounce.json": (
        EventKind.HARD_BOUNCE,
        False,
        FailureCategory.INVALID_ADDRESS,
        "5.1.1",
    ),
    "rejected.json": (EventKind.DROPPED, False, FailureCategory.UNKNOWN, None),
    "stored.json": (EventKind.UNKNOWN, False, None, None),
}


def test_every_stored_payload_has_a_case():
    assert {p.name for p in mg.PAYLOADS.glob("*.json")} == set(PAYLOAD_CASES)


@pytest.mark.parametrize(("name", "expected"), PAYLOAD_CASES.items())
def test_stored_payload_maps(name, expected):
    kind, machine, category, smtp = expected
    payload = mg.load(name)
    batch = adapter().parse(request(orjson.dumps(payload)))
    assert batch.rejects == []
    (event,) = batch.events
    data = payload["event-data"]
    assert (event.kind, event.machine, event.failure_category, event.smtp_status) == (
        kind,
        machine,
        category,
        smtp,
    )
    assert event.provider == "mailgun"
    assert event.provider_event_type == data["event"]
    assert event.recipient == "grace.hopper@example.org"
    assert event.provider_message_id == "20251124160000.8f3c2a1b9d7e4f60@mg.careers.example.com"
    assert event.claimed_email_id == UUID(EMAIL_ID)
    assert event.occurred_at == datetime.fromtimestamp(data["timestamp"], tz=UTC)
    assert event.raw == data  # the event-data only: the signature block is not stored


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("failed_permanent.json", "5.1.1 The email account that you tried to reach does not"),
        ("failed_temporary.json", "4.2.2 The email account that you tried to reach is over"),
        ("failed_suppress_bounce.json", "Not delivering to previously bounced address"),
        ("failed_too_old.json", "Too old"),
        ("rejected.json", "Sandbox subdomains are for test purposes only"),
        ("delivered.json", None),
        ("opened.json", None),
    ],
)
def test_reason_comes_from_the_delivery_status(name, reason):
    (event,) = adapter().parse(request(orjson.dumps(mg.load(name)))).events
    if reason is None:
        assert event.reason is None
    else:
        assert event.reason is not None
        assert event.reason.startswith(reason)


def test_click_keeps_the_url_and_others_do_not():
    (click,) = adapter().parse(request(orjson.dumps(mg.load("clicked.json")))).events
    (opened,) = adapter().parse(request(orjson.dumps(mg.load("opened.json")))).events
    assert click.url == "https://careers.example.com/interview/slot?c=42"
    assert opened.url is None


# ---- failure classification -----------------------------------------------------------------


def failed(**fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"event": "failed", "severity": "permanent", "reason": "bounce"}
    item.update(fields)
    return item


@pytest.mark.parametrize(
    ("item", "kind", "category"),
    [
        (failed(), EventKind.HARD_BOUNCE, FailureCategory.UNKNOWN),
        (
            failed(severity="temporary", reason="generic"),
            EventKind.DEFERRED,
            FailureCategory.UNKNOWN,
        ),
        (failed(severity="Temporary"), EventKind.DEFERRED, FailureCategory.UNKNOWN),
        (failed(severity=None), EventKind.HARD_BOUNCE, FailureCategory.UNKNOWN),
        (failed(reason="suppress-bounce"), EventKind.DROPPED, FailureCategory.SUPPRESSED_BOUNCE),
        (
            failed(reason="suppress-unsubscribe"),
            EventKind.DROPPED,
            FailureCategory.SUPPRESSED_UNSUBSCRIBE,
        ),
        (
            failed(reason="suppress-complaint"),
            EventKind.DROPPED,
            FailureCategory.SUPPRESSED_COMPLAINT,
        ),
        (failed(reason="suppress-something-new"), EventKind.DROPPED, FailureCategory.UNKNOWN),
        (
            failed(reason="generic", **{"delivery-status": {"code": 605}}),
            EventKind.DROPPED,
            FailureCategory.SUPPRESSED_BOUNCE,
        ),
        (
            failed(**{"delivery-status": {"code": "606"}}),
            EventKind.DROPPED,
            FailureCategory.SUPPRESSED_UNSUBSCRIBE,
        ),
        (
            failed(**{"delivery-status": {"code": 607}}),
            EventKind.DROPPED,
            FailureCategory.SUPPRESSED_COMPLAINT,
        ),
        (
            failed(**{"delivery-status": {"code": 625}}),
            EventKind.DROPPED,
            FailureCategory.UNKNOWN,
        ),
        (
            failed(reason="old", **{"delivery-status": {"code": 602}}),
            EventKind.SOFT_BOUNCE,
            FailureCategory.TECHNICAL,
        ),
        (
            failed(severity="temporary", reason="old", **{"delivery-status": {"code": 421}}),
            EventKind.SOFT_BOUNCE,
            FailureCategory.UNKNOWN,
        ),
        (
            failed(severity="temporary", **{"delivery-status": {"code": 498}}),
            EventKind.DEFERRED,
            FailureCategory.TECHNICAL,
        ),
        (
            failed(flags={"is-delayed-bounce": True}, severity="temporary"),
            EventKind.HARD_BOUNCE,
            FailureCategory.UNKNOWN,
        ),
        (
            failed(flags={"is-delayed-bounce": "yes"}, severity="temporary"),
            EventKind.DEFERRED,
            FailureCategory.UNKNOWN,
        ),
        (
            failed(**{"delivery-status": {"code": 550, "enhanced-code": "5.7.1"}}),
            EventKind.HARD_BOUNCE,
            FailureCategory.BLOCKED,
        ),
        (
            failed(**{"delivery-status": {"code": 552, "enhanced-code": ""}}),
            EventKind.HARD_BOUNCE,
            FailureCategory.MAILBOX_UNAVAILABLE,
        ),
        (
            failed(**{"delivery-status": {"code": 554, "bounce-code": "5.6.0"}}),
            EventKind.HARD_BOUNCE,
            FailureCategory.CONTENT,
        ),
        (
            failed(**{"delivery-status": {"code": 550}}),
            EventKind.HARD_BOUNCE,
            FailureCategory.INVALID_ADDRESS,
        ),
        (
            failed(**{"delivery-status": {"code": True}}),
            EventKind.HARD_BOUNCE,
            FailureCategory.UNKNOWN,
        ),
        (failed(**{"delivery-status": "broken"}), EventKind.HARD_BOUNCE, FailureCategory.UNKNOWN),
    ],
)
def test_classify_failure(item, kind, category):
    assert classify_failure(item) == (kind, category)


def test_delayed_bounce_wins_over_a_temporary_severity_in_a_full_event():
    event = parse_one(mg.event("failed", severity="temporary", flags={"is-delayed-bounce": True}))
    assert event.kind is EventKind.HARD_BOUNCE


# ---- machine opens ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_info", "machine"),
    [
        ({"bot": ""}, False),
        ({"bot": "apple"}, True),
        ({"bot": "APPLE"}, True),
        ({"bot": "generic"}, True),
        ({"bot": "gmail"}, False),  # Gmail's image proxy fetches when a person opens it
        ({"bot": "some-new-bot"}, True),
        ({"bot": 1}, True),
        ({}, False),
        (None, False),
        ("not an object", False),
    ],
)
def test_machine_signal(client_info, machine):
    item: dict[str, Any] = {"event": "opened"}
    if client_info is not None:
        item["client-info"] = client_info
    assert is_machine(item) is machine


def test_machine_flag_is_only_set_on_opens_and_clicks():
    info = {"client-info": {"bot": "apple"}}
    assert parse_one(mg.event("opened", **info)).machine is True
    assert parse_one(mg.event("clicked", **info)).machine is True
    assert parse_one(mg.event("delivered", **info)).machine is False


# ---- timestamps, ids, metadata -------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1764000000.123456, datetime(2025, 11, 24, 16, 0, 0, 123456, tzinfo=UTC)),
        (1764000000, datetime(2025, 11, 24, 16, 0, 0, tzinfo=UTC)),
        ("1764000000.5", datetime(2025, 11, 24, 16, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_float_seconds_timestamps(timestamp, expected):
    assert parse_one(mg.event("delivered", timestamp=timestamp)).occurred_at == expected


def test_dedupe_key_is_id_event_and_time():
    a = parse_one(mg.event("delivered", id="SameIdEveryDay", timestamp=1764000000.25))
    b = parse_one(mg.event("opened", id="SameIdEveryDay", timestamp=1764000000.25))
    c = parse_one(mg.event("delivered", id="SameIdEveryDay", timestamp=1764086400.25))
    again = parse_one(mg.event("delivered", id="SameIdEveryDay", timestamp=1764000000.25))
    assert a.dedupe_key == "id:SameIdEveryDay:delivered:2025-11-24T16:00:00.250000+00:00"
    assert len({a.dedupe_key, b.dedupe_key, c.dedupe_key}) == 3
    assert again.dedupe_key == a.dedupe_key


def test_event_without_id_gets_a_content_key():
    item = mg.event("delivered")
    del item["id"]
    first, second = parse_one(item), parse_one(dict(item))
    assert first.dedupe_key.startswith("content:")
    assert first.dedupe_key == second.dedupe_key


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"landed_email_id": EMAIL_ID}, UUID(EMAIL_ID)),
        ({"landed_email_id": f" {EMAIL_ID.upper()} "}, UUID(EMAIL_ID)),
        ({"landed_email_id": "not-a-uuid"}, None),
        ({"landed_email_id": 42}, None),
        ({"other": EMAIL_ID}, None),
        ({}, None),
        ("landed_email_id", None),
        (None, None),
    ],
)
def test_our_id_comes_from_user_variables(variables, expected):
    assert parse_one(mg.event("delivered", **{"user-variables": variables})).claimed_email_id == (
        expected
    )


def test_metadata_key_is_configurable():
    item = mg.event("delivered", **{"user-variables": {"x_email": EMAIL_ID}})
    assert parse_one(item, metadata_key="x_email").claimed_email_id == UUID(EMAIL_ID)
    assert parse_one(item).claimed_email_id is None


def test_message_id_is_optional():
    item = mg.event("delivered")
    del item["message"]
    assert parse_one(item).provider_message_id is None


# ---- what is quarantined, what is refused ----------------------------------------------------


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"recipient": None}, "recipient"),
        ({"recipient": ["a@example.com"]}, "recipient"),
        ({"recipient": "  "}, "recipient"),
        ({"event": None}, "event"),
        ({"event": 7}, "event"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": None}, "timestamp"),
        ({"timestamp": -1}, "timestamp"),
    ],
)
def test_uninterpretable_event_is_quarantined(change, why):
    item = mg.event("delivered")
    item.update(change)
    batch = adapter().parse(request(signed(item)))
    assert batch.events == []
    (reject,) = batch.rejects
    assert why in reject.reason
    assert reject.raw == item
    assert batch.received == 1


def test_rejected_event_takes_its_recipient_from_the_to_header():
    payload = mg.load("rejected.json")
    assert "recipient" not in payload["event-data"]
    (event,) = adapter().parse(request(orjson.dumps(payload))).events
    assert event.recipient == "grace.hopper@example.org"


def test_rejected_event_without_any_address_is_kept_when_it_carries_our_id():
    item = mg.event("rejected", None, email_id=EMAIL_ID)
    item["message"]["headers"]["to"] = "undisclosed-recipients:;"
    event = parse_one(item)
    assert event.recipient is None
    assert event.claimed_email_id == UUID(EMAIL_ID)


def test_rejected_event_without_address_or_id_is_quarantined():
    item = mg.event("rejected", None)
    batch = adapter().parse(request(signed(item)))
    assert batch.events == []
    assert len(batch.rejects) == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        orjson.dumps({"signature": {}}),
        orjson.dumps({"signature": {}, "event-data": "delivered"}),
        orjson.dumps({"signature": {}, "event-data": [{"event": "delivered"}]}),
    ],
)
def test_wrong_envelope_is_malformed(raw):
    with pytest.raises(MalformedPayload):
        adapter().parse(request(raw))


def test_text_fields_are_cleaned():
    item = mg.event("failed")
    item["delivery-status"]["message"] = "550 bad\x00 mailbox"
    item["recipient"] = "  ada@example.com\x00 "
    event = parse_one(item)
    assert event.reason == "550 bad mailbox"
    assert event.recipient == "ada@example.com"
