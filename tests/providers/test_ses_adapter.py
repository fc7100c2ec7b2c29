"""SES via SNS, pure: SNS canonical strings, every way verification can fail, the SES mapping.

HTTP goes to a FakeAws behind httpx.MockTransport; tests that refuse a URL assert that no
request was made at all."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from app.config import Settings
from app.domain.events import EventKind, FailureCategory
from app.errors import MalformedPayload, SignatureInvalid
from app.providers.base import InboundRequest
from app.providers.ses import SesAdapter
from app.providers.sns import SnsUnavailable, SnsVerifier, string_to_sign
from tests.fixtures.providers import ses

VECTORS = orjson.loads(
    (
        Path(__file__).resolve().parents[1] / "payloads" / "ses" / "aws_sns_signed_vectors.json"
    ).read_bytes()
)
EMAIL_ID = "3f2b8c1e-6d4a-4e0b-9a71-5c2d8e9f1a03"


def verifier(client: httpx.AsyncClient | None, **kwargs: Any) -> SnsVerifier:
    options: dict[str, Any] = {"tolerance_seconds": 3600, "http_client": client}
    options.update(kwargs)
    return SnsVerifier([ses.TOPIC_ARN, ses.SECOND_TOPIC_ARN], **options)


@pytest.fixture
def aws() -> ses.FakeAws:
    return ses.FakeAws()


@pytest.fixture
async def aws_client(aws: ses.FakeAws) -> AsyncIterator[httpx.AsyncClient]:
    async with aws.client() as c:
        yield c


@pytest.fixture
def adapter(aws_client: httpx.AsyncClient) -> SesAdapter:
    return SesAdapter(verifier(aws_client), metadata_key="landed_email_id")


def inbound(message: dict[str, Any], headers: dict[str, str] | None = None) -> InboundRequest:
    return InboundRequest(
        raw=ses.body(message),
        headers=httpx.Headers(ses.headers(message) if headers is None else headers),
        client_ip="198.51.100.10",
    )


def parse(adapter: SesAdapter, event: dict[str, Any] | str, **kwargs: Any):
    batch = adapter.parse(inbound(ses.notification(event, **kwargs)))
    assert batch.rejects == [], batch.rejects
    return batch.events


# ---- settings -------------------------------------------------------------------------------


def test_unset_topics_disable_the_provider():
    assert SesAdapter.from_settings(Settings(providers={})) is None
    assert SesAdapter.from_settings(Settings(providers={"ses": {"topic_arns": ""}})) is None


def test_configured_topics_enable_it():
    adapter = SesAdapter.from_settings(Settings(providers={"ses": ses.settings()}))
    assert adapter is not None
    assert adapter.sns.topic_arns == {ses.TOPIC_ARN, ses.SECOND_TOPIC_ARN}


@pytest.mark.parametrize(
    "value",
    ["landed-ses-events", "arn:aws:sqs:eu-west-1:123456789012:queue", "arn:aws:sns:eu-west-1:1:t"],
)
def test_topics_must_be_sns_topic_arns(value):
    with pytest.raises(ValueError, match="LANDED_SES"):
        SesAdapter.from_settings(Settings(providers={"ses": {"topic_arns": value}}))


# ---- the canonical string, per message type --------------------------------------------------


def test_canonical_string_of_a_notification_without_subject():
    message = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": ses.TOPIC_ARN,
        "Message": '{"eventType":"Send"}\nsecond line',
        "Timestamp": "2025-11-24T16:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "ignored",
        "SigningCertURL": ses.CERT_URL,
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
        "Subject": None,
    }
    assert (
        string_to_sign(message)
        == (
            'Message\n{"eventType":"Send"}\nsecond line\n'
            "MessageId\nm-1\n"
            "Timestamp\n2025-11-24T16:00:00.000Z\n"
            f"TopicArn\n{ses.TOPIC_ARN}\n"
            "Type\nNotification\n"
        ).encode()
    )


def test_canonical_string_of_a_notification_with_subject():
    message = {
        "Type": "Notification",
        "MessageId": "m-2",
        "TopicArn": ses.TOPIC_ARN,
        "Subject": "Amazon SES Email Event Notification",
        "Message": "x",
        "Timestamp": "2025-11-24T16:00:00.000Z",
    }
    assert (
        string_to_sign(message)
        == (
            "Message\nx\nMessageId\nm-2\nSubject\nAmazon SES Email Event Notification\n"
            f"Timestamp\n2025-11-24T16:00:00.000Z\nTopicArn\n{ses.TOPIC_ARN}\nType\nNotification\n"
        ).encode()
    )


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_canonical_string_of_confirmations(kind):
    message = {
        "Type": kind,
        "MessageId": "m-3",
        "Token": "tok",
        "TopicArn": ses.TOPIC_ARN,
        "Message": "You have chosen to subscribe.",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&T=1",
        "Timestamp": "2025-11-24T16:00:00.000Z",
        "Subject": "never signed for confirmations",
    }
    assert (
        string_to_sign(message)
        == (
            "Message\nYou have chosen to subscribe.\nMessageId\nm-3\n"
            "SubscribeURL\nhttps://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&T=1\n"
            f"Timestamp\n2025-11-24T16:00:00.000Z\nToken\ntok\nTopicArn\n{ses.TOPIC_ARN}\n"
            f"Type\n{kind}\n"
        ).encode()
    )


def test_canonical_string_matches_the_fixture_signer():
    message = ses.notification({"eventType": "Send"}, subject="s")
    assert string_to_sign(message) == ses.canonical(message)


@pytest.mark.parametrize("bad", [{"Type": "Telegram"}, {"Type": ["Notification"]}, {}])
def test_canonical_string_needs_a_known_type(bad):
    with pytest.raises(SignatureInvalid, match="Type"):
        string_to_sign(bad)


def test_canonical_string_refuses_non_string_values():
    with pytest.raises(SignatureInvalid, match="MessageId"):
        string_to_sign({"Type": "Notification", "MessageId": 7})


# ---- real AWS signatures (v1 and v2) ---------------------------------------------------------


def _vector_verifier(client: httpx.AsyncClient) -> SnsVerifier:
    checked_at = datetime.fromisoformat(VECTORS["checked_at"]).timestamp()
    topics = [m["TopicArn"] for m in VECTORS["messages"]]
    return SnsVerifier(
        topics, tolerance_seconds=86400, http_client=client, clock=lambda: checked_at
    )


async def _vector_client() -> httpx.AsyncClient:
    def serve(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == VECTORS["certificate_url"]
        return httpx.Response(200, text=VECTORS["certificate_pem"])

    return httpx.AsyncClient(transport=httpx.MockTransport(serve))


@pytest.mark.parametrize("index", range(4))
async def test_real_aws_messages_verify(index):
    message = VECTORS["messages"][index]
    async with await _vector_client() as client:
        await _vector_verifier(client).verify(message, {"x-amz-sns-message-type": "Notification"})
    assert {m["SignatureVersion"] for m in VECTORS["messages"]} == {"1", "2"}


@pytest.mark.parametrize("index", range(4))
async def test_real_aws_messages_fail_when_tampered(index):
    message = {**VECTORS["messages"][index], "Message": "Hello world!"}
    async with await _vector_client() as client:
        with pytest.raises(SignatureInvalid):
            await _vector_verifier(client).verify(
                message, {"x-amz-sns-message-type": "Notification"}
            )


# ---- verification: valid ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
async def test_valid_signatures_pass(adapter, aws, version):
    message = ses.notification(ses.ses_event("delivery"), version=version)
    await adapter.verify(inbound(message))
    assert aws.urls() == [ses.CERT_URL]


async def test_certificate_is_fetched_once_per_url(adapter, aws):
    for _ in range(3):
        await adapter.verify(inbound(ses.notification(ses.ses_event("send"))))
    assert aws.urls() == [ses.CERT_URL]


async def test_certificate_cache_is_bounded(aws_client, aws):
    aws.certificates["https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-b.pem"] = (
        ses.CERT_PEM
    )
    other = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-b.pem"
    sns = verifier(aws_client, cache_size=1)
    for url in (ses.CERT_URL, other, ses.CERT_URL):
        message = ses.notification({"eventType": "Send"}, cert_url=url)
        await sns.verify(message, ses.headers(message))
    assert aws.urls() == [ses.CERT_URL, other, ses.CERT_URL]


async def test_lambda_style_key_spellings_are_accepted(adapter):
    message = ses.notification(ses.ses_event("send"))
    message["SigningCertUrl"] = message.pop("SigningCertURL")
    message["UnsubscribeUrl"] = message.pop("UnsubscribeURL")
    await adapter.verify(inbound(message))


async def test_second_configured_topic_is_accepted(adapter):
    await adapter.verify(
        inbound(ses.notification({"eventType": "Send"}, topic=ses.SECOND_TOPIC_ARN))
    )


# ---- verification: one test per way it can fail ---------------------------------------------


async def test_bad_signature(adapter):
    message = ses.notification(ses.ses_event("delivery"))
    signature = bytearray(base64.b64decode(message["Signature"]))
    signature[10] ^= 0xFF
    message["Signature"] = base64.b64encode(bytes(signature)).decode()
    with pytest.raises(SignatureInvalid, match="could not be verified"):
        await adapter.verify(inbound(message))


async def test_signature_not_base64(adapter, aws):
    message = {**ses.notification({"eventType": "Send"}), "Signature": "@@not base64@@"}
    with pytest.raises(SignatureInvalid, match="base64"):
        await adapter.verify(inbound(message))
    assert aws.requests == []


async def test_missing_signature(adapter):
    message = ses.notification({"eventType": "Send"})
    del message["Signature"]
    with pytest.raises(SignatureInvalid, match="no Signature"):
        await adapter.verify(inbound(message))


async def test_signed_by_another_key_than_the_certificates(adapter):
    message = ses.notification({"eventType": "Send"}, key=ses.STRANGER_KEY)
    with pytest.raises(SignatureInvalid, match="could not be verified"):
        await adapter.verify(inbound(message))


async def test_certificate_of_another_key(adapter, aws):
    message = ses.notification({"eventType": "Send"}, cert_url=ses.STRANGER_CERT_URL)
    with pytest.raises(SignatureInvalid, match="could not be verified"):
        await adapter.verify(inbound(message))
    assert aws.urls() == [ses.STRANGER_CERT_URL]


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/SimpleNotificationService-1.pem",
        "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns-certs.s3.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.s3-eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.s3-accelerate.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.s3-website-eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.s3.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://s3.eu-west-1.amazonaws.com/sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/SimpleNotificationService-1.pem",
        "https://sns.eu-west-1.amazonaws.com@evil.example/SimpleNotificationService-1.pem",
        "https://user:pw@sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/SimpleNotificationService-1.pem",
        "https://sns.eu-west-1.amazonaws.com\\@evil.example/SimpleNotificationService-1.pem",
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.crt",
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem?x=1",
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem#frag",
        "https://sns.amazonaws.com/SimpleNotificationService-1.pem",
        "ftp://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
        "",
    ],
)
async def test_certificate_urls_off_sns_hosts_are_refused_without_a_request(adapter, aws, url):
    message = ses.notification({"eventType": "Send"}, cert_url=url)
    with pytest.raises(SignatureInvalid, match="URL"):
        await adapter.verify(inbound(message))
    assert aws.requests == []


async def test_china_and_govcloud_sns_hosts_are_allowed(aws_client, aws):
    hosts = (
        "sns.cn-north-1.amazonaws.com.cn",
        "sns.us-gov-west-1.amazonaws.com",
        "sns.ap-southeast-4.amazonaws.com",
    )
    for host in hosts:
        url = f"https://{host}/SimpleNotificationService-1.pem"
        aws.certificates[url] = ses.CERT_PEM
        message = ses.notification({"eventType": "Send"}, cert_url=url)
        await verifier(aws_client).verify(message, ses.headers(message))
    assert len(aws.requests) == 3


async def test_topic_not_allowed(adapter, aws):
    message = ses.notification({"eventType": "Send"}, topic=ses.FOREIGN_TOPIC_ARN)
    with pytest.raises(SignatureInvalid, match="topic"):
        await adapter.verify(inbound(message))
    assert aws.requests == []


async def test_message_type_header_must_match_the_body(adapter):
    message = ses.notification({"eventType": "Send"})
    headers = ses.headers(message, **{"x-amz-sns-message-type": "SubscriptionConfirmation"})
    with pytest.raises(SignatureInvalid, match="x-amz-sns-message-type"):
        await adapter.verify(inbound(message, headers))


async def test_message_type_header_is_required(adapter):
    message = ses.notification({"eventType": "Send"})
    headers = ses.headers(message)
    del headers["x-amz-sns-message-type"]
    with pytest.raises(SignatureInvalid, match="x-amz-sns-message-type"):
        await adapter.verify(inbound(message, headers))


async def test_message_id_header_must_match_the_body(adapter):
    message = ses.notification({"eventType": "Send"})
    headers = ses.headers(message, **{"x-amz-sns-message-id": str(uuid.uuid4())})
    with pytest.raises(SignatureInvalid, match="x-amz-sns-message-id"):
        await adapter.verify(inbound(message, headers))


async def test_topic_header_must_match_the_body(adapter):
    message = ses.notification({"eventType": "Send"})
    headers = ses.headers(message, **{"x-amz-sns-topic-arn": ses.SECOND_TOPIC_ARN})
    with pytest.raises(SignatureInvalid, match="x-amz-sns-topic-arn"):
        await adapter.verify(inbound(message, headers))


@pytest.mark.parametrize("version", ["3", "0", "", None, 1, ["1"]])
async def test_unknown_signature_version(adapter, aws, version):
    message = {**ses.notification({"eventType": "Send"}), "SignatureVersion": version}
    with pytest.raises(SignatureInvalid, match="SignatureVersion"):
        await adapter.verify(inbound(message))
    assert aws.requests == []


async def test_version_must_match_the_algorithm_used(adapter):
    message = {**ses.notification({"eventType": "Send"}, version="1"), "SignatureVersion": "2"}
    with pytest.raises(SignatureInvalid, match="could not be verified"):
        await adapter.verify(inbound(message))


@pytest.mark.parametrize(
    "change",
    [
        {"Message": '{"eventType":"Bounce"}'},
        {"Subject": "added later"},
        {"Timestamp": ses.now_iso(timedelta(seconds=-1))},
        {"MessageId": "another-id"},
    ],
)
async def test_tampered_fields(adapter, change):
    message = {**ses.notification(ses.ses_event("delivery")), **change}
    with pytest.raises(SignatureInvalid, match="could not be verified"):
        await adapter.verify(inbound(message))


@pytest.mark.parametrize("offset", [timedelta(hours=-2), timedelta(minutes=10)])
async def test_timestamp_outside_the_window(adapter, aws, offset):
    message = ses.notification({"eventType": "Send"}, timestamp=ses.now_iso(offset))
    with pytest.raises(SignatureInvalid, match="window"):
        await adapter.verify(inbound(message))
    assert aws.requests == []


async def test_unparseable_timestamp(adapter):
    message = ses.notification({"eventType": "Send"}, timestamp="Monday")
    with pytest.raises(SignatureInvalid, match="Timestamp"):
        await adapter.verify(inbound(message))


async def test_expired_certificate(adapter):
    message = ses.notification({"eventType": "Send"}, cert_url=ses.EXPIRED_CERT_URL)
    with pytest.raises(SignatureInvalid, match="not valid at this time"):
        await adapter.verify(inbound(message))


async def test_certificate_not_issued_to_sns(adapter):
    message = ses.notification({"eventType": "Send"}, cert_url=ses.MISNAMED_CERT_URL)
    with pytest.raises(SignatureInvalid, match=r"sns\.amazonaws\.com"):
        await adapter.verify(inbound(message))


async def test_certificate_missing(adapter, aws):
    del aws.certificates[ses.CERT_URL]
    with pytest.raises(SignatureInvalid, match="404"):
        await adapter.verify(inbound(ses.notification({"eventType": "Send"})))


async def test_certificate_not_a_pem(adapter, aws):
    aws.certificates[ses.CERT_URL] = b"<html>hello</html>"
    with pytest.raises(SignatureInvalid, match="PEM"):
        await adapter.verify(inbound(ses.notification({"eventType": "Send"})))


async def test_aws_failing_is_a_retryable_503():
    def fail(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502)

    async with httpx.AsyncClient(transport=httpx.MockTransport(fail)) as client:
        adapter = SesAdapter(verifier(client), metadata_key="landed_email_id")
        with pytest.raises(SnsUnavailable) as caught:
            await adapter.verify(inbound(ses.notification({"eventType": "Send"})))
    assert caught.value.status_code == 503


async def test_aws_unreachable_is_a_retryable_503():
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as client:
        adapter = SesAdapter(verifier(client), metadata_key="landed_email_id")
        with pytest.raises(SnsUnavailable):
            await adapter.verify(inbound(ses.notification({"eventType": "Send"})))


# ---- envelopes that cannot be verified at all -----------------------------------------------


async def test_raw_message_delivery_is_refused_with_an_explanation(adapter, aws):
    bare = ses.ses_event("delivery")
    request = InboundRequest(raw=orjson.dumps(bare), headers=httpx.Headers({}))
    with pytest.raises(MalformedPayload, match="raw message delivery") as caught:
        await adapter.verify(request)
    assert caught.value.status_code == 400
    assert aws.requests == []


async def test_raw_delivery_header_is_refused_whatever_the_body(adapter):
    request = InboundRequest(
        raw=b"Successfully validated SNS topic for Amazon SES event publishing.",
        headers=httpx.Headers({"x-amz-sns-rawdelivery": "true"}),
    )
    with pytest.raises(MalformedPayload, match="raw message delivery"):
        await adapter.verify(request)


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"hello": "world"}'])
async def test_bodies_that_are_not_sns_envelopes(adapter, raw):
    with pytest.raises(MalformedPayload):
        await adapter.verify(InboundRequest(raw=raw, headers=httpx.Headers({})))


# ---- control messages ------------------------------------------------------------------------


async def test_subscription_confirmation_is_confirmed_once(adapter, aws):
    message = ses.confirmation()
    request = inbound(message)
    await adapter.verify(request)
    assert await adapter.handle_control(request) is True
    assert await adapter.handle_control(request) is True  # SNS resending the same message
    assert aws.urls("ConfirmSubscription") == [message["SubscribeURL"]]


async def test_subscription_confirmation_to_a_non_sns_host_is_never_followed(adapter, aws):
    message = ses.confirmation(subscribe_url="https://evil.example.com/?Action=ConfirmSubscription")
    request = inbound(message)
    await adapter.verify(request)  # genuinely signed, but the URL is not SNS's
    with pytest.raises(SignatureInvalid, match="URL"):
        await adapter.handle_control(request)
    assert aws.urls("ConfirmSubscription") == []


async def test_subscription_confirmation_over_http_is_never_followed(adapter, aws):
    url = "http://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=x"
    request = inbound(ses.confirmation(subscribe_url=url))
    await adapter.verify(request)
    with pytest.raises(SignatureInvalid, match="https"):
        await adapter.handle_control(request)
    assert aws.urls("ConfirmSubscription") == []


async def test_subscription_confirmation_for_a_foreign_topic_fails_verification(adapter, aws):
    request = inbound(ses.confirmation(topic=ses.FOREIGN_TOPIC_ARN))
    with pytest.raises(SignatureInvalid, match="topic"):
        await adapter.verify(request)
    assert aws.requests == []


async def test_failed_confirmation_is_retryable_and_then_succeeds(adapter, aws):
    request = inbound(ses.confirmation())
    await adapter.verify(request)
    aws.confirm_status = 403
    with pytest.raises(SnsUnavailable):
        await adapter.handle_control(request)
    aws.confirm_status = 200
    assert await adapter.handle_control(request) is True
    assert len(aws.urls("ConfirmSubscription")) == 2


async def test_unsubscribe_confirmation_is_verified_but_never_followed(adapter, aws):
    request = inbound(ses.confirmation("UnsubscribeConfirmation"))
    await adapter.verify(request)
    assert await adapter.handle_control(request) is True
    assert aws.urls("ConfirmSubscription") == []
    assert aws.urls() == [ses.CERT_URL]


async def test_topic_validation_message_is_handled_without_events(adapter):
    request = inbound(ses.notification(ses.VALIDATION_TEXT))
    await adapter.verify(request)
    assert await adapter.handle_control(request) is True
    assert adapter.parse(request).received == 0


async def test_event_notifications_are_not_control_messages(adapter):
    assert await adapter.handle_control(inbound(ses.notification(ses.ses_event("send")))) is False


# ---- the SES mapping ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "category", "reason", "at"),
    [
        ("send", EventKind.ACCEPTED, None, None, "2025-11-24T16:00:00.123Z"),
        ("delivery", EventKind.DELIVERED, None, None, "2025-11-24T16:00:02.456Z"),
        (
            "bounce_transient",
            EventKind.SOFT_BOUNCE,
            FailureCategory.MAILBOX_UNAVAILABLE,
            "smtp; 452 4.2.2 The email account that you tried to reach is over quota",
            "2025-11-24T23:59:59.001Z",
        ),
        (
            "bounce_suppressed",
            EventKind.DROPPED,
            FailureCategory.SUPPRESSED_BOUNCE,
            "Amazon SES did not send the message to this address because it is on the "
            "suppression list for your account.",
            "2025-11-24T16:00:00.500Z",
        ),
        ("complaint", EventKind.COMPLAINED, None, "abuse", "2025-11-25T08:41:02.669Z"),
        (
            "complaint_suppressed",
            EventKind.DROPPED,
            FailureCategory.SUPPRESSED_COMPLAINT,
            "On the account-level suppression list; SES did not send it.",
            "2025-11-24T16:00:00.600Z",
        ),
        (
            "reject",
            EventKind.DROPPED,
            FailureCategory.CONTENT,
            "Bad content",
            "2025-11-24T16:00:00.123Z",
        ),
        (
            "rendering_failure",
            EventKind.DROPPED,
            FailureCategory.TECHNICAL,
            "Attribute 'candidateName' is not present in the rendering data.",
            "2025-11-24T16:00:00.123Z",
        ),
        (
            "delivery_delay",
            EventKind.DEFERRED,
            None,
            "smtp; 421 4.4.1 Unable to connect to remote host",
            "2025-11-24T16:10:40.095Z",
        ),
        ("open", EventKind.OPENED, None, None, "2025-11-24T16:20:19.652Z"),
        ("click", EventKind.CLICKED, None, None, "2025-11-24T16:21:25.570Z"),
        (
            "subscription",
            EventKind.UNSUBSCRIBED,
            None,
            "UnsubscribeHeader",
            "2025-11-24T17:00:17.910Z",
        ),
        (
            "notification_bounce",
            EventKind.HARD_BOUNCE,
            FailureCategory.INVALID_ADDRESS,
            "smtp; 550 5.1.1 <ada.lovelace@example.com>: Recipient address rejected: User unknown",
            "2025-11-24T16:00:04.000Z",
        ),
    ],
)
def test_event_types(adapter, name, kind, category, reason, at):
    msg_id = ses.message_id()
    (event,) = parse(adapter, ses.ses_event(name, msg_id=msg_id))
    assert event.kind is kind
    assert event.failure_category == category
    assert event.reason == reason
    assert event.occurred_at == datetime.fromisoformat(at)
    assert event.recipient == "ada.lovelace@example.com"
    assert event.provider_message_id == msg_id
    assert event.machine is False
    assert event.provider == "ses"


def test_delivery_delay_keeps_the_enhanced_status():
    sns = SesAdapter(verifier(None), metadata_key="landed_email_id")
    (event,) = parse(sns, ses.ses_event("delivery_delay"))
    assert event.smtp_status == "4.4.1"
    assert event.provider_event_type == "DeliveryDelay"


def test_click_carries_the_link(adapter):
    (event,) = parse(adapter, ses.ses_event("click"))
    assert event.url == "https://careers.example.com/interview/slot?token=abc123"


@pytest.mark.parametrize(
    ("bounce_type", "subtype", "status", "kind", "category"),
    [
        ("Permanent", "General", "5.1.1", EventKind.HARD_BOUNCE, FailureCategory.INVALID_ADDRESS),
        ("Permanent", "General", "5.7.1", EventKind.HARD_BOUNCE, FailureCategory.BLOCKED),
        ("Permanent", "General", None, EventKind.HARD_BOUNCE, FailureCategory.UNKNOWN),
        ("Permanent", "NoEmail", "5.1.1", EventKind.HARD_BOUNCE, FailureCategory.INVALID_ADDRESS),
        ("Permanent", "Suppressed", "5.1.1", EventKind.DROPPED, FailureCategory.SUPPRESSED_BOUNCE),
        (
            "Permanent",
            "OnAccountSuppressionList",
            "5.1.1",
            EventKind.DROPPED,
            FailureCategory.SUPPRESSED_BOUNCE,
        ),
        ("Transient", "General", "4.4.7", EventKind.SOFT_BOUNCE, FailureCategory.TECHNICAL),
        (
            "Transient",
            "MailboxFull",
            "4.2.2",
            EventKind.SOFT_BOUNCE,
            FailureCategory.MAILBOX_UNAVAILABLE,
        ),
        ("Transient", "MessageTooLarge", "5.3.4", EventKind.SOFT_BOUNCE, FailureCategory.CONTENT),
        ("Transient", "ContentRejected", "5.7.1", EventKind.SOFT_BOUNCE, FailureCategory.CONTENT),
        (
            "Transient",
            "AttachmentRejected",
            "5.7.1",
            EventKind.SOFT_BOUNCE,
            FailureCategory.CONTENT,
        ),
        ("Undetermined", "Undetermined", None, EventKind.SOFT_BOUNCE, FailureCategory.UNKNOWN),
        (
            "SomethingNew",
            "General",
            "5.1.1",
            EventKind.SOFT_BOUNCE,
            FailureCategory.INVALID_ADDRESS,
        ),
    ],
)
def test_bounce_types_and_subtypes(adapter, bounce_type, subtype, status, kind, category):
    event = ses.ses_event("bounce_transient")
    event["bounce"].update(bounceType=bounce_type, bounceSubType=subtype)
    recipient = event["bounce"]["bouncedRecipients"][0]
    recipient["status"] = status
    del recipient["diagnosticCode"]
    (normalized,) = parse(adapter, event)
    assert (normalized.kind, normalized.failure_category) == (kind, category)
    assert normalized.smtp_status == status
    assert normalized.reason == f"{bounce_type} bounce ({subtype})"


def test_multi_recipient_bounce_is_one_event_per_recipient(adapter):
    message = ses.notification(ses.ses_event("bounce_permanent", email_id=EMAIL_ID))
    events = adapter.parse(inbound(message)).events
    assert [e.recipient for e in events] == ["ada.lovelace@example.com", "grace.hopper@example.org"]
    assert [e.smtp_status for e in events] == ["5.1.1", "5.7.1"]
    assert [e.failure_category for e in events] == [
        FailureCategory.INVALID_ADDRESS,
        FailureCategory.BLOCKED,
    ]
    assert {e.dedupe_key for e in events} == {
        f"sns:{message['MessageId']}:Bounce:ada.lovelace@example.com",
        f"sns:{message['MessageId']}:Bounce:grace.hopper@example.org",
    }
    # A per-message tag cannot say which recipient's email it is: matching uses the address.
    assert all(e.claimed_email_id is None for e in events)


@pytest.mark.parametrize("name", ["open", "click", "send"])
def test_per_message_events_apply_to_every_destination(adapter, name):
    destinations = ["ada.lovelace@example.com", "Grace Hopper <grace.hopper@example.org>"]
    events = parse(adapter, ses.ses_event(name, email_id=EMAIL_ID, destination=destinations))
    assert [e.recipient for e in events] == ["ada.lovelace@example.com", "grace.hopper@example.org"]
    assert len({e.dedupe_key for e in events}) == 2


def test_complaint_lists_each_complainer(adapter):
    event = ses.ses_event("complaint")
    event["complaint"]["complainedRecipients"] = [
        {"emailAddress": "ada.lovelace@example.com"},
        {"emailAddress": "grace.hopper@example.org"},
        {"emailAddress": "ada.lovelace@example.com"},
    ]
    events = parse(adapter, event)
    assert [e.recipient for e in events] == ["ada.lovelace@example.com", "grace.hopper@example.org"]


def test_delivery_uses_its_recipients_list(adapter):
    event = ses.ses_event("delivery", destination=["a@example.com", "b@example.com"])
    event["delivery"]["recipients"] = ["b@example.com"]
    (normalized,) = parse(adapter, event)
    assert normalized.recipient == "b@example.com"


@pytest.mark.parametrize(
    ("new", "old", "kind"),
    [
        ({"unsubscribeAll": True}, {"unsubscribeAll": False}, EventKind.UNSUBSCRIBED),
        (
            {
                "unsubscribeAll": False,
                "topicSubscriptionStatus": [
                    {"topicName": "JobAlerts", "subscriptionStatus": "OptOut"}
                ],
            },
            {
                "unsubscribeAll": False,
                "topicSubscriptionStatus": [
                    {"topicName": "JobAlerts", "subscriptionStatus": "OptIn"}
                ],
            },
            EventKind.UNSUBSCRIBED,
        ),
        ({"unsubscribeAll": False}, {"unsubscribeAll": True}, EventKind.RESUBSCRIBED),
        (
            {
                "unsubscribeAll": False,
                "topicSubscriptionStatus": [
                    {"topicName": "JobAlerts", "subscriptionStatus": "OptIn"}
                ],
            },
            {
                "unsubscribeAll": False,
                "topicSubscriptionStatus": [
                    {"topicName": "JobAlerts", "subscriptionStatus": "OptOut"}
                ],
            },
            EventKind.RESUBSCRIBED,
        ),
        ({"unsubscribeAll": False}, {"unsubscribeAll": False}, EventKind.UNKNOWN),
    ],
)
def test_subscription_preferences(adapter, new, old, kind):
    event = ses.ses_event("subscription")
    event["subscription"].update(newTopicPreferences=new, oldTopicPreferences=old)
    (normalized,) = parse(adapter, event)
    assert normalized.kind is kind


def test_unknown_event_type_is_kept_for_every_destination(adapter):
    event = ses.ses_event("send")
    event["eventType"] = "SomethingNew"
    (normalized,) = parse(adapter, event)
    assert normalized.kind is EventKind.UNKNOWN
    assert normalized.provider_event_type == "SomethingNew"


# ---- ids ------------------------------------------------------------------------------------


def test_our_id_comes_from_the_message_tag(adapter):
    (event,) = parse(adapter, ses.ses_event("delivery", email_id=EMAIL_ID))
    assert str(event.claimed_email_id) == EMAIL_ID


@pytest.mark.parametrize("name", ["landed_email_id", "X-Landed-Email-Id", "landed-email-id"])
def test_our_id_comes_from_a_header_when_there_is_no_tag(adapter, name):
    event = ses.ses_event("notification_bounce")
    event["mail"]["headers"].append({"name": name, "value": EMAIL_ID})
    (normalized,) = parse(adapter, event)
    assert str(normalized.claimed_email_id) == EMAIL_ID


def test_a_tag_that_is_not_our_uuid_claims_nothing(adapter):
    event = ses.ses_event("delivery")
    event["mail"]["tags"]["landed_email_id"] = ["interview-42"]
    (normalized,) = parse(adapter, event)
    assert normalized.claimed_email_id is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0102019ab1c2-aaaa-000000", "0102019ab1c2-aaaa-000000"),
        ("<0102019ab1c2-aaaa-000000@eu-west-1.amazonses.com>", "0102019ab1c2-aaaa-000000"),
        (" <0102019ab1c2-aaaa-000000@email.amazonses.com> ", "0102019ab1c2-aaaa-000000"),
        ("<custom@careers.example.com>", "custom@careers.example.com"),
    ],
)
def test_canonical_message_id(given, expected):
    assert SesAdapter.canonical_message_id(given) == expected


def test_dedupe_key_is_stable_across_sns_retries(adapter):
    event = ses.ses_event("delivery")
    sns_id = str(uuid.uuid4())
    first = parse(adapter, event, message_id=sns_id)[0]
    retry = parse(adapter, event, message_id=sns_id)[0]
    other = parse(adapter, event)[0]
    assert first.dedupe_key == retry.dedupe_key == f"sns:{sns_id}:Delivery:ada.lovelace@example.com"
    assert other.dedupe_key != first.dedupe_key


def test_event_time_falls_back_to_the_send_time(adapter):
    event = ses.ses_event("open")
    del event["open"]["timestamp"]
    (normalized,) = parse(adapter, event)
    assert normalized.occurred_at == datetime(2025, 11, 24, 16, 0, 0, 123000, tzinfo=UTC)


# ---- unreadable events are quarantined ------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("not json at all", "not an SES JSON event"),
        ('["a list"]', "not an SES JSON event"),
        ({"mail": {"destination": ["a@example.com"]}}, "eventType"),
        ({"eventType": "Send"}, "mail"),
        ({"eventType": "Send", "mail": {"timestamp": "2025-11-24T16:00:00Z"}}, "no recipients"),
        (
            {
                "eventType": "Bounce",
                "bounce": {"bouncedRecipients": []},
                "mail": {"destination": ["a@example.com"], "timestamp": "2025-11-24T16:00:00Z"},
            },
            "no recipients",
        ),
        ({"eventType": "Send", "mail": {"destination": ["a@example.com"]}}, "event time"),
    ],
)
def test_unreadable_events_are_quarantined(adapter, message, reason):
    batch = adapter.parse(inbound(ses.notification(message)))
    assert batch.events == []
    assert len(batch.rejects) == 1
    assert reason in batch.rejects[0].reason
