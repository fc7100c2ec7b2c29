"""Postmark adapter, pure: Basic-auth checks, the mapping tables, timestamps, dedupe keys."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.domain.events import EventKind, FailureCategory
from app.errors import MalformedPayload, SignatureInvalid
from app.providers.base import InboundRequest
from app.providers.postmark import PostmarkAdapter
from tests.fixtures.providers import postmark as pm


def make_adapter(**values: str) -> PostmarkAdapter:
    config = values or pm.settings()
    adapter = PostmarkAdapter.from_settings(Settings(providers={"postmark": config}))
    assert adapter is not None
    return adapter


def request(
    item: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    client_ip: str | None = "127.0.0.1",
) -> InboundRequest:
    return InboundRequest(
        raw=pm.body(item) if raw is None else raw,
        headers=httpx.Headers(pm.headers() if headers is None else headers),
        client_ip=client_ip,
    )


def parse_one(item: dict[str, Any], **kwargs: Any):
    batch = make_adapter().parse(request(item, **kwargs))
    assert batch.rejects == [], batch.rejects
    assert len(batch.events) == 1
    return batch.events[0]


# ---- settings -------------------------------------------------------------------------------


def test_unset_credentials_disable_the_provider():
    assert PostmarkAdapter.from_settings(Settings(providers={})) is None
    assert (
        PostmarkAdapter.from_settings(Settings(providers={"postmark": {"basic_auth": " "}})) is None
    )


@pytest.mark.parametrize("value", ["userpass", ":pass", "user:", "ok:pw,broken"])
def test_credentials_must_be_user_colon_password(value):
    with pytest.raises(ValueError, match="LANDED_POSTMARK"):
        PostmarkAdapter.from_settings(Settings(providers={"postmark": {"basic_auth": value}}))


def test_allowed_networks_must_be_cidrs():
    config = {"basic_auth": "u:p", "allowed_networks": "10.0.0.0/8, not-a-network"}
    with pytest.raises(ValueError, match="not-a-network"):
        PostmarkAdapter.from_settings(Settings(providers={"postmark": config}))


# ---- authentication: one test per way it can fail ---------------------------------------------


async def test_current_credentials_are_accepted():
    await make_adapter().verify(request({}))


async def test_rotated_credentials_are_accepted():
    headers = pm.headers(authorization=pm.basic(pm.PREVIOUS_USER, pm.PREVIOUS_PASSWORD))
    await make_adapter().verify(request({}, headers=headers))


async def test_missing_credentials_are_refused():
    headers = pm.headers()
    del headers["Authorization"]
    with pytest.raises(SignatureInvalid, match="Missing"):
        await make_adapter().verify(request({}, headers=headers))


async def test_empty_basic_credentials_are_refused():
    with pytest.raises(SignatureInvalid, match="Missing"):
        await make_adapter().verify(request({}, headers=pm.headers(authorization="Basic ")))


async def test_wrong_password_is_refused():
    headers = pm.headers(authorization=pm.basic(pm.USER, pm.PASSWORD + "x"))
    with pytest.raises(SignatureInvalid, match="Invalid Basic credentials"):
        await make_adapter().verify(request({}, headers=headers))


async def test_wrong_user_is_refused():
    headers = pm.headers(authorization=pm.basic("someone-else", pm.PASSWORD))
    with pytest.raises(SignatureInvalid, match="Invalid Basic credentials"):
        await make_adapter().verify(request({}, headers=headers))


async def test_user_of_one_pair_with_password_of_another_is_refused():
    headers = pm.headers(authorization=pm.basic(pm.USER, pm.PREVIOUS_PASSWORD))
    with pytest.raises(SignatureInvalid, match="Invalid Basic credentials"):
        await make_adapter().verify(request({}, headers=headers))


async def test_non_basic_scheme_is_refused():
    token = base64.b64encode(f"{pm.USER}:{pm.PASSWORD}".encode()).decode()
    headers = pm.headers(authorization=f"Bearer {token}")
    with pytest.raises(SignatureInvalid, match="not Basic"):
        await make_adapter().verify(request({}, headers=headers))


@pytest.mark.parametrize(
    "garbled", ["Basic !!!not-base64!!!", "Basic dXNlcjpw YXNz", "Basic dXNlcjpwYXN"]
)
async def test_garbled_base64_is_refused(garbled):
    with pytest.raises(SignatureInvalid, match="base64"):
        await make_adapter().verify(request({}, headers=pm.headers(authorization=garbled)))


async def test_credentials_without_a_colon_are_refused():
    encoded = base64.b64encode(f"{pm.USER}{pm.PASSWORD}".encode()).decode()
    with pytest.raises(SignatureInvalid, match="user:password"):
        await make_adapter().verify(
            request({}, headers=pm.headers(authorization=f"Basic {encoded}"))
        )


async def test_scheme_is_case_insensitive():
    encoded = pm.basic().split(" ", 1)[1]
    await make_adapter().verify(request({}, headers=pm.headers(authorization=f"basic {encoded}")))


async def test_peer_outside_the_allowed_networks_is_refused_even_with_good_credentials():
    with pytest.raises(SignatureInvalid, match="allowed network"):
        await make_adapter().verify(request({}, client_ip="203.0.113.7"))


async def test_unknown_peer_is_refused_when_networks_are_configured():
    with pytest.raises(SignatureInvalid, match="allowed network"):
        await make_adapter().verify(request({}, client_ip=None))


@pytest.mark.parametrize("peer", ["10.20.3.4", "::1", "::ffff:127.0.0.1"])
async def test_peers_inside_the_allowed_networks_pass(peer):
    await make_adapter().verify(request({}, client_ip=peer))


async def test_without_an_allow_list_any_peer_with_credentials_passes():
    adapter = make_adapter(basic_auth=f"{pm.USER}:{pm.PASSWORD}")
    await adapter.verify(request({}, client_ip="203.0.113.7"))


# ---- mapping ----------------------------------------------------------------------------------

BOUNCES = [
    ("HardBounce", EventKind.HARD_BOUNCE, FailureCategory.INVALID_ADDRESS),
    ("Transient", EventKind.DEFERRED, None),
    ("DnsError", EventKind.SOFT_BOUNCE, FailureCategory.TECHNICAL),
    ("SoftBounce", EventKind.SOFT_BOUNCE, FailureCategory.MAILBOX_UNAVAILABLE),
    ("SpamNotification", EventKind.HARD_BOUNCE, FailureCategory.BLOCKED),
    ("VirusNotification", EventKind.HARD_BOUNCE, FailureCategory.CONTENT),
    ("Blocked", EventKind.HARD_BOUNCE, FailureCategory.BLOCKED),
    ("DMARCPolicy", EventKind.HARD_BOUNCE, FailureCategory.TECHNICAL),
    ("BadEmailAddress", EventKind.DROPPED, FailureCategory.INVALID_ADDRESS),
    ("ManuallyDeactivated", EventKind.DROPPED, FailureCategory.UNKNOWN),
    ("Unconfirmed", EventKind.DROPPED, FailureCategory.UNKNOWN),
    ("SMTPApiError", EventKind.DROPPED, FailureCategory.TECHNICAL),
    ("TemplateRenderingFailed", EventKind.DROPPED, FailureCategory.TECHNICAL),
    ("SpamComplaint", EventKind.COMPLAINED, None),
    ("Unsubscribe", EventKind.UNSUBSCRIBED, None),
    ("Subscribe", EventKind.UNKNOWN, None),
    ("AutoResponder", EventKind.UNKNOWN, None),
    ("AddressChange", EventKind.UNKNOWN, None),
    ("ChallengeVerification", EventKind.UNKNOWN, None),
    ("OpenRelayTest", EventKind.UNKNOWN, None),
    ("InboundError", EventKind.UNKNOWN, None),
    ("Unknown", EventKind.UNKNOWN, None),
    ("SomethingPostmarkAddsLater", EventKind.UNKNOWN, None),
]


@pytest.mark.parametrize(("bounce_type", "kind", "category"), BOUNCES)
def test_bounce_types(bounce_type, kind, category):
    event = parse_one(pm.event("bounce_hard", Type=bounce_type, TypeCode=999))
    assert (event.kind, event.failure_category) == (kind, category)
    assert event.provider_event_type == f"Bounce:{bounce_type}"


def test_bounce_kind_follows_the_type_string_not_the_code():
    event = parse_one(pm.event("bounce_hard", Type="SoftBounce", TypeCode=1))
    assert event.kind is EventKind.SOFT_BOUNCE


@pytest.mark.parametrize(
    ("name", "kind", "event_type"),
    [
        ("delivery", EventKind.DELIVERED, "Delivery"),
        ("spam_complaint", EventKind.COMPLAINED, "SpamComplaint"),
        ("open", EventKind.OPENED, "Open"),
        ("click", EventKind.CLICKED, "Click"),
        ("subscription_change", EventKind.UNSUBSCRIBED, "SubscriptionChange"),
    ],
)
def test_record_types(name, kind, event_type):
    event = parse_one(pm.event(name))
    assert event.kind is kind
    assert event.provider_event_type == event_type
    assert event.failure_category is None


def test_unknown_record_type_is_kept_as_unknown():
    event = parse_one(pm.event("delivery", RecordType="Inbound"))
    assert event.kind is EventKind.UNKNOWN
    assert event.provider_event_type == "Inbound"


@pytest.mark.parametrize(
    ("suppress", "reason", "kind"),
    [
        (True, "ManualSuppression", EventKind.UNSUBSCRIBED),
        (True, None, EventKind.UNSUBSCRIBED),
        (True, "HardBounce", EventKind.UNKNOWN),
        (True, "SpamComplaint", EventKind.UNKNOWN),
        (False, None, EventKind.RESUBSCRIBED),
        (False, "ManualSuppression", EventKind.RESUBSCRIBED),
    ],
)
def test_subscription_changes(suppress, reason, kind):
    item = pm.event("subscription_change", SuppressSending=suppress, SuppressionReason=reason)
    event = parse_one(item)
    assert event.kind is kind
    assert event.reason == reason


def test_opens_are_never_flagged_as_machine_opens():
    # Postmark has no machine-open signal, even for Apple Mail Privacy Protection.
    event = parse_one(pm.event("open", UserAgent="Mozilla/5.0", Platform="Unknown"))
    assert event.kind is EventKind.OPENED
    assert event.machine is False


# ---- fields ---------------------------------------------------------------------------------


def test_delivery_fields():
    email_id, msg_id = str(uuid.uuid4()), pm.message_id()
    event = parse_one(pm.event("delivery", email_id=email_id, msg_id=msg_id))
    assert event.provider == "postmark"
    assert event.recipient == "ada.lovelace@example.com"
    assert event.provider_message_id == msg_id
    assert str(event.claimed_email_id) == email_id
    assert event.occurred_at == datetime(2025, 11, 24, 16, 5, 12, 396393, tzinfo=UTC)
    assert event.raw["MessageID"] == msg_id


def test_bounce_fields_use_email_details_and_the_enhanced_code():
    event = parse_one(pm.event("bounce_hard", recipient="Grace.Hopper@Example.org"))
    assert event.recipient == "Grace.Hopper@Example.org"
    assert event.recipient_key == "grace.hopper@example.org"
    assert event.reason.startswith("smtp;550 5.1.1 The email account")
    assert event.smtp_status == "5.1.1"
    assert event.occurred_at == datetime(2025, 11, 24, 16, 5, 40, 486385, tzinfo=UTC)


def test_bounce_without_details_falls_back_to_the_description():
    event = parse_one(pm.event("bounce_soft", Details=""))
    assert event.reason.startswith("Unable to temporarily deliver")
    assert event.smtp_status is None


def test_click_carries_the_original_link():
    event = parse_one(pm.event("click"))
    assert event.url == "https://careers.example.com/interview/slot?token=abc123"
    assert event.occurred_at == datetime(2025, 11, 24, 16, 21, 2, 130000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "field", "value", "expected"),
    [
        (
            "delivery",
            "DeliveredAt",
            "2014-08-01T13:28:10.2735393-04:00",
            datetime(2014, 8, 1, 17, 28, 10, 273539, tzinfo=UTC),
        ),
        (
            "bounce_hard",
            "BouncedAt",
            "2019-11-05T16:33:54.9070259Z",
            datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC),
        ),
        (
            "open",
            "ReceivedAt",
            "2019-11-05T16:33:54+01:00",
            datetime(2019, 11, 5, 15, 33, 54, tzinfo=UTC),
        ),
        (
            "subscription_change",
            "ChangedAt",
            "2020-02-01T10:53:34.416071Z",
            datetime(2020, 2, 1, 10, 53, 34, 416071, tzinfo=UTC),
        ),
    ],
)
def test_timestamps_with_offsets_and_seven_digits(name, field, value, expected):
    assert parse_one(pm.event(name, **{field: value})).occurred_at == expected


def test_metadata_that_is_not_our_uuid_claims_nothing():
    item = pm.event("delivery")
    item["Metadata"] = {"landed_email_id": "not-a-uuid"}
    assert parse_one(item).claimed_email_id is None
    item["Metadata"] = "landed_email_id"
    assert parse_one(item).claimed_email_id is None


# ---- dedupe keys ------------------------------------------------------------------------------


def test_trace_header_is_the_dedupe_key():
    trace = pm.trace_id()
    event = parse_one(pm.event("delivery"), headers=pm.headers(trace_id=trace))
    assert event.dedupe_key == f"trace:{trace}"


def test_without_trace_header_the_key_comes_from_the_content():
    item = pm.event("open")
    first, again = parse_one(item), parse_one(dict(item))
    later = parse_one({**item, "ReceivedAt": "2025-11-24T11:25:00.0000000-05:00"})
    assert first.dedupe_key.startswith("content:")
    assert first.dedupe_key == again.dedupe_key
    assert later.dedupe_key != first.dedupe_key


def test_content_key_tells_bounce_types_apart():
    item = pm.event("bounce_hard")
    hard, soft = parse_one(item), parse_one({**item, "Type": "SoftBounce"})
    assert hard.dedupe_key != soft.dedupe_key


# ---- malformed bodies and items --------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'[{"RecordType": "Delivery"}]', b"42"])
def test_bodies_that_are_not_one_event_are_malformed(raw):
    with pytest.raises(MalformedPayload):
        make_adapter().parse(request(raw=raw))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"RecordType": None}, "RecordType"),
        ({"RecordType": 7}, "RecordType"),
        ({"Recipient": None}, "Recipient"),
        ({"DeliveredAt": "yesterday"}, "event time"),
        ({"DeliveredAt": None}, "event time"),
    ],
)
def test_unreadable_events_are_quarantined(change, reason):
    item = {**pm.event("delivery"), **change}
    batch = make_adapter().parse(request(item))
    assert batch.events == []
    assert len(batch.rejects) == 1
    assert reason in batch.rejects[0].reason
    assert batch.rejects[0].raw == item
