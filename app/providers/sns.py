"""Amazon SNS over HTTP(S): the JSON envelope, its RSA signature, and subscription confirmation.

Docs: https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
      https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-json.html
      https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html
SNS posts a JSON envelope with `Content-Type: text/plain`. `SignatureVersion` 1 is SHA1withRSA,
2 is SHA256withRSA (PKCS#1 v1.5), over "Key\\nValue\\n" for a fixed, per-type list of keys in
order (absent or null keys skipped), with the certificate found at `SigningCertURL`.

What we trust, in order:
1. `SigningCertURL` must be `https://sns.<region>.amazonaws.com[.cn]/….pem` (no credentials, no
   port, no query). Anything else is refused before any request: S3 buckets are amazonaws.com
   too, and a URL chosen by the sender would let anyone sign.
2. The PEM is fetched over TLS, verified against the system trust store, without redirects:
   the TLS chain is what proves the certificate comes from AWS. It is cached per URL (bounded).
3. The PEM itself: AWS serves the leaf without its intermediate, so no chain is built here
   (libraries that tried broke on real messages). We check that it is valid now (±5 min), that
   it is issued to sns.amazonaws.com (CN or a DNS SAN, or a regional sns.* name) and holds an
   RSA key.
4. The `TopicArn` must be one of ours: an AWS signature proves that AWS sent the message, not
   that the topic belongs to us (anybody's topic is AWS-signed). This is checked before the
   certificate is fetched, along with the timestamp window and the x-amz-sns-* headers.
The HTTP client is injectable (`http_client`) so tests serve certificates from a MockTransport.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from app.domain.timestamps import InvalidTimestamp, from_iso
from app.errors import MalformedPayload, ServiceUnavailable, SignatureInvalid
from app.providers.base import Headers, check_signed_at, load_json

log = logging.getLogger("landed.webhooks")

# The AWS SNS message validators' host pattern (regional, GovCloud, China).
# The label after sns. must be a region (eu-west-1, us-gov-west-1, cn-north-1): a looser
# pattern also admits S3 endpoints of a bucket named "sns" (sns.s3-eu-west-1.amazonaws.com,
# sns.s3-accelerate.amazonaws.com), whose owner could serve any certificate.
AWS_REGION = r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}"
SNS_HOST = re.compile(rf"^sns\.{AWS_REGION}\.amazonaws\.com(\.cn)?$")
# Names a signing certificate may be issued to (real ones say sns.amazonaws.com).
CERT_NAME = re.compile(r"^sns(\.[a-zA-Z0-9\-]{3,})?\.amazonaws\.com(\.cn)?$")

# Keys in the string to sign, per message type, in this order.
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SIGNATURE_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}
# Messages relayed through Lambda spell these keys differently.
_LAMBDA_KEYS = {
    "SigningCertUrl": "SigningCertURL",
    "SubscribeUrl": "SubscribeURL",
    "UnsubscribeUrl": "UnsubscribeURL",
}

TYPE_HEADER = "x-amz-sns-message-type"
ID_HEADER = "x-amz-sns-message-id"
TOPIC_HEADER = "x-amz-sns-topic-arn"
RAW_DELIVERY_HEADER = "x-amz-sns-rawdelivery"

HTTP_TIMEOUT = httpx.Timeout(5.0)
CLOCK_SKEW_SECONDS = 300
MAX_CERT_BYTES = 64 * 1024
RAW_DELIVERY_MESSAGE = (
    "This is SNS raw message delivery: the body has no SNS envelope and no signature, so it "
    "cannot be verified. Disable 'raw message delivery' on the SNS subscription."
)


class SnsUnavailable(ServiceUnavailable):
    """AWS could not be reached (certificate or confirmation): 503 so that SNS retries."""

    code = "provider_unavailable"
    message = "Amazon SNS could not be reached; retry later."


def load_envelope(raw: bytes, headers: Headers) -> dict[str, Any]:
    """The SNS envelope as a dict (Lambda-style key spellings normalised); 400 otherwise."""
    if (headers.get(RAW_DELIVERY_HEADER) or "").strip().lower() == "true":
        raise MalformedPayload(RAW_DELIVERY_MESSAGE)
    body = load_json(raw)
    if not isinstance(body, dict):
        raise MalformedPayload("Expected an Amazon SNS message (a JSON object).")
    if "Type" not in body and "Signature" not in body:
        if any(key in body for key in ("eventType", "notificationType", "mail")):
            raise MalformedPayload(RAW_DELIVERY_MESSAGE)
        raise MalformedPayload("Expected an Amazon SNS message with Type, MessageId, Signature.")
    return {_LAMBDA_KEYS.get(key, key): value for key, value in body.items()}


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The bytes SNS signs for this message (its Type decides the keys)."""
    kind = message.get("Type")
    fields = SIGNED_FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise SignatureInvalid("Unknown SNS message Type.")
    parts: list[str] = []
    for key in fields:
        value = message.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise SignatureInvalid(f"The SNS field {key} is not a string.")
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode()


def sns_url(value: object, *, certificate: bool) -> str:
    """The URL rebuilt from its checked parts, or SignatureInvalid: https, an SNS host, no
    credentials or port; a certificate URL must be a .pem path without a query."""
    if not isinstance(value, str) or not value:
        raise SignatureInvalid("Missing SNS URL.")
    if "\\" in value or any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise SignatureInvalid("The SNS URL contains forbidden characters.")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise SignatureInvalid("The SNS URL is not a URL.") from None
    if parts.scheme != "https":
        raise SignatureInvalid("The SNS URL is not https.")
    if "@" in parts.netloc or port not in (None, 443):
        raise SignatureInvalid("The SNS URL carries credentials or a port.")
    host = parts.hostname or ""
    if not SNS_HOST.match(host):
        raise SignatureInvalid("The SNS URL is not on an sns.<region>.amazonaws.com host.")
    if parts.fragment:
        raise SignatureInvalid("The SNS URL has a fragment.")
    if certificate:
        if not parts.path.endswith(".pem") or parts.query:
            raise SignatureInvalid("The signing certificate URL is not a .pem file.")
        return f"https://{host}{parts.path}"
    query = f"?{parts.query}" if parts.query else ""
    return f"https://{host}{parts.path or '/'}{query}"


def certificate_names(cert: x509.Certificate) -> list[str]:
    names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return names
    return names + list(san.value.get_values_for_type(x509.DNSName))


class SnsVerifier:
    """Checks SNS messages for one set of topics; confirms subscriptions to them."""

    def __init__(
        self,
        topic_arns: Iterable[str],
        *,
        tolerance_seconds: int,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        cache_size: int = 16,
    ) -> None:
        self.topic_arns = frozenset(topic_arns)
        # None: a short-lived client per request (fetches are rare: certificates are cached).
        self.http_client = http_client
        self._tolerance = tolerance_seconds
        self._clock = clock
        self._cache_size = cache_size
        self._certificates: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._confirmed: OrderedDict[str, None] = OrderedDict()

    def use_http_client(self, client: httpx.AsyncClient | None) -> None:
        """Swap the HTTP client (tests) and forget what the previous one served."""
        self.http_client = client
        self._certificates.clear()
        self._confirmed.clear()

    async def verify(self, message: Mapping[str, Any], headers: Headers) -> None:
        kind = message.get("Type")
        if not isinstance(kind, str) or kind not in SIGNED_FIELDS:
            raise SignatureInvalid("Unknown SNS message Type.")
        if headers.get(TYPE_HEADER) != kind:
            raise SignatureInvalid(f"The {TYPE_HEADER} header does not match the message Type.")
        message_id = message.get("MessageId")
        if not isinstance(message_id, str) or not message_id:
            raise SignatureInvalid("The SNS message has no MessageId.")
        if headers.get(ID_HEADER) not in (None, message_id):
            raise SignatureInvalid(f"The {ID_HEADER} header does not match the MessageId.")
        topic = message.get("TopicArn")
        if not isinstance(topic, str) or topic not in self.topic_arns:
            raise SignatureInvalid("The SNS topic is not one this service accepts.")
        if headers.get(TOPIC_HEADER) not in (None, topic):
            raise SignatureInvalid(f"The {TOPIC_HEADER} header does not match the TopicArn.")
        version = message.get("SignatureVersion")
        algorithm = SIGNATURE_HASHES.get(version) if isinstance(version, str) else None
        if algorithm is None:
            raise SignatureInvalid("Unsupported SNS SignatureVersion.")
        self._check_timestamp(message.get("Timestamp"))
        encoded = message.get("Signature")
        if not isinstance(encoded, str) or not encoded:
            raise SignatureInvalid("The SNS message has no Signature.")
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureInvalid("The SNS Signature is not base64.") from None
        url = sns_url(message.get("SigningCertURL"), certificate=True)
        signed = string_to_sign(message)
        certificate = await self._certificate(url)
        self._check_validity(certificate)
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureInvalid("The SNS signing certificate does not hold an RSA key.")
        try:
            key.verify(signature, signed, padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise SignatureInvalid() from None

    async def confirm_subscription(self, message: Mapping[str, Any]) -> None:
        """GET the SubscribeURL of a verified SubscriptionConfirmation, once per message."""
        message_id = str(message.get("MessageId"))
        topic = message.get("TopicArn")
        if message_id in self._confirmed:
            log.info("sns.subscription_already_confirmed", extra={"topic_arn": topic})
            return
        url = sns_url(message.get("SubscribeURL"), certificate=False)
        response = await self._get(url)
        if response.status_code != 200:
            log.error(
                "sns.subscription_confirmation_failed",
                extra={"topic_arn": topic, "status": response.status_code},
            )
            raise SnsUnavailable(
                f"Confirming the SNS subscription failed ({response.status_code})."
            )
        self._remember(self._confirmed, message_id, None)
        log.info("sns.subscription_confirmed", extra={"topic_arn": topic})

    def _check_timestamp(self, value: object) -> None:
        try:
            sent = from_iso(value).timestamp()
        except InvalidTimestamp:
            raise SignatureInvalid("The SNS Timestamp is not an ISO 8601 time.") from None
        check_signed_at(sent, now=self._clock(), tolerance=self._tolerance, what="SNS Timestamp")

    def _check_validity(self, certificate: x509.Certificate) -> None:
        now = self._clock()
        not_before = certificate.not_valid_before_utc.timestamp() - CLOCK_SKEW_SECONDS
        not_after = certificate.not_valid_after_utc.timestamp() + CLOCK_SKEW_SECONDS
        if not not_before <= now <= not_after:
            raise SignatureInvalid("The SNS signing certificate is not valid at this time.")

    async def _certificate(self, url: str) -> x509.Certificate:
        cached = self._certificates.get(url)
        if cached is not None:
            self._certificates.move_to_end(url)
            return cached
        response = await self._get(url)
        if response.status_code != 200:
            raise SignatureInvalid(
                f"The SNS signing certificate could not be fetched ({response.status_code})."
            )
        if len(response.content) > MAX_CERT_BYTES:
            raise SignatureInvalid("The SNS signing certificate is too large.")
        try:
            certificate = x509.load_pem_x509_certificate(response.content)
        except ValueError:
            raise SignatureInvalid(
                "The SNS signing certificate is not a PEM certificate."
            ) from None
        if not any(CERT_NAME.match(name.lower()) for name in certificate_names(certificate)):
            raise SignatureInvalid(
                "The SNS signing certificate is not issued to sns.amazonaws.com."
            )
        self._remember(self._certificates, url, certificate)
        return certificate

    async def _get(self, url: str) -> httpx.Response:
        """GET without redirects; AWS unreachable or failing (5xx) is a 503 so SNS retries."""
        try:
            if self.http_client is not None:
                response = await self.http_client.get(
                    url, follow_redirects=False, timeout=HTTP_TIMEOUT
                )
            else:
                async with httpx.AsyncClient(
                    timeout=HTTP_TIMEOUT, follow_redirects=False
                ) as client:
                    response = await client.get(url)
        except httpx.HTTPError as exc:
            log.warning("sns.request_failed", extra={"error": type(exc).__name__})
            raise SnsUnavailable() from None
        if response.status_code >= 500:
            raise SnsUnavailable()
        return response

    def _remember(self, cache: OrderedDict[str, Any], key: str, value: Any) -> None:
        cache[key] = value
        cache.move_to_end(key)
        limit = self._cache_size if cache is self._certificates else 1024
        while len(cache) > limit:
            cache.popitem(last=False)
