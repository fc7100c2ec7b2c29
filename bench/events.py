"""Realistic SendGrid traffic: email blasts to register, event lifecycles, signed batches.

Events carry a pass marker inside their `sg_event_id`. A pool of batches is generated once;
each pass over it swaps the marker (a bytes replace on the body, a string replace on the floor's
arrays), so every event the service or the floor sees is new: nothing is deduplicated away.
"""

from __future__ import annotations

import base64
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.providers.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER

PROVIDER = "sendgrid"
METADATA_KEY = "landed_email_id"
MARKER = "bench00000-"  # fixed width: replaced by bench{pass:05d}- for each pass
BASE_TS = 1_764_000_000
EMAIL_TYPES = ("interview_invitation", "interview_reminder", "email_blast", "deadline_reminder")
DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "example.org")
FIRST = ("ada", "alan", "grace", "linus", "barbara", "ken", "margaret", "dennis", "edsger")
LAST = ("lovelace", "turing", "hopper", "torvalds", "liskov", "thompson", "hamilton", "ritchie")
SUBJECTS = (
    "Interview invitation: Backend Engineer",
    "Reminder: your interview tomorrow at 10:00",
    "Please upload your résumé",
    "Application deadline in 3 days",
)
BOUNCES = (
    (
        "550 5.1.1 The email account that you tried to reach does not exist.",
        "5.1.1",
        "Invalid Address",
    ),
    ("552 5.2.2 Mailbox full", "5.2.2", "Mailbox Unavailable"),
    ("554 5.7.1 Message rejected due to reputation", "5.7.1", "Reputation"),
)
DROPS = ("Bounced Address", "Unsubscribed Address", "Invalid", "Spam Reporting Address")


def marker_for(pass_no: int) -> str:
    return f"bench{pass_no:05d}-"


def message_id(rng: random.Random) -> str:
    # The API's X-Message-Id: 22 URL-safe characters.
    return base64.urlsafe_b64encode(rng.randbytes(16)).decode()[:22]


def event_id(rng: random.Random) -> str:
    return MARKER + base64.urlsafe_b64encode(rng.randbytes(15)).decode()


def address(rng: random.Random, n: int) -> str:
    return f"{rng.choice(FIRST)}.{rng.choice(LAST)}{n}@{rng.choice(DOMAINS)}"


@dataclass(frozen=True, slots=True)
class Target:
    """A registered (or deliberately unregistered) email that events are about."""

    email_id: str | None
    recipient: str
    message_id: str


def blast(
    rng: random.Random, n: int, *, org_id: str, prefix: str, per_candidate: int = 1
) -> list[dict[str, Any]]:
    """Registration payloads (POST /v1/emails/batch items) for n emails."""
    blast_id = f"{prefix}-blast-{rng.randrange(10**9)}"
    items = []
    for i in range(n):
        candidate = i // per_candidate
        items.append(
            {
                "org_id": org_id,
                "candidate_id": f"{prefix}-cand-{candidate}",
                "type": EMAIL_TYPES[i % len(EMAIL_TYPES)] if per_candidate > 1 else EMAIL_TYPES[0],
                "recipient": address(rng, candidate),
                "subject": SUBJECTS[i % len(SUBJECTS)],
                "sent_at": f"2026-0{1 + i % 9}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                "provider": PROVIDER,
                "provider_message_id": message_id(rng),
                "blast_id": blast_id,
                "external_id": f"{prefix}-{i}-{rng.randrange(10**12)}",
            }
        )
    return items


def _event(target: Target, name: str, ts: int, rng: random.Random, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "email": target.recipient,
        "event": name,
        "timestamp": ts,
        "sg_event_id": event_id(rng),
        "sg_message_id": f"{target.message_id}.recvd-{rng.randrange(10**6)}-1-{ts}-0.0",
        "smtp-id": f"<{target.message_id}@ismtpd0{rng.randrange(100):02d}p1iad2.sendgrid.net>",
        "category": ["interview_invitation"],
    }
    if target.email_id is not None:
        item[METADATA_KEY] = target.email_id
    item.update(fields)
    return item


def lifecycle(rng: random.Random, target: Target, start: int) -> list[dict[str, Any]]:
    """One email's events: processed, deferred, delivered, opens, clicks, bounces, drops.

    ≈3.0 events per email. Shares (per email): 1% dropped, 3% hard bounce, 1% blocked,
    8% deferred first, 55% of delivered opened (a quarter of first opens by a machine), a quarter
    of those clicked.
    """
    ts = start + rng.randrange(600)
    r = rng.random()
    if r < 0.01:
        return [_event(target, "dropped", ts, rng, reason=rng.choice(DROPS), status="5.0.0")]
    events = [_event(target, "processed", ts, rng, pool={"name": "transactional", "id": 210})]
    if rng.random() < 0.08:
        ts += 60 + rng.randrange(900)
        events.append(
            _event(target, "deferred", ts, rng, response="421 4.7.0 Try again later", attempt="1")
        )
    ts += 1 + rng.randrange(30)
    r = rng.random()
    if r < 0.03:
        reason, status, classification = rng.choice(BOUNCES)
        events.append(
            _event(
                target,
                "bounce",
                ts,
                rng,
                type="bounce",
                reason=reason,
                status=status,
                bounce_classification=classification,
            )
        )
        return events
    if r < 0.04:
        events.append(
            _event(
                target,
                "bounce",
                ts,
                rng,
                type="blocked",
                status="4.7.1",
                reason="421 4.7.1 Temporarily deferred",
                bounce_classification="Reputation",
            )
        )
        return events
    events.append(
        _event(target, "delivered", ts, rng, response="250 2.0.0 OK", ip="168.1.1.1", tls=1)
    )
    if rng.random() < 0.55:
        for n in range(1 + int(rng.random() < 0.4) + int(rng.random() < 0.2)):
            ts += 5 + rng.randrange(7200)
            events.append(
                _event(
                    target,
                    "open",
                    ts,
                    rng,
                    useragent="Mozilla/5.0",
                    ip="203.0.113.7",
                    sg_machine_open=n == 0 and rng.random() < 0.25,
                )
            )
        if rng.random() < 0.25:
            ts += 5 + rng.randrange(600)
            events.append(
                _event(
                    target,
                    "click",
                    ts,
                    rng,
                    useragent="Mozilla/5.0",
                    ip="203.0.113.7",
                    url="https://careers.example.com/interview/slot",
                    url_offset={"index": 0},
                )
            )
    return events


def event_stream(
    rng: random.Random, targets: Sequence[Target], *, window: int, unmatched_share: float
) -> Iterator[list[dict[str, Any]]]:
    """Events in windows of `window` emails, shuffled inside each window, so that consecutive
    (and therefore concurrent) batches carry events of the same messages."""
    order = list(targets)
    rng.shuffle(order)
    for lo in range(0, len(order), window):
        events: list[dict[str, Any]] = []
        for target in order[lo : lo + window]:
            events.extend(lifecycle(rng, target, BASE_TS + lo))
            if rng.random() < unmatched_share:  # an email sent outside Landed: stays unmatched
                stranger = Target(None, address(rng, rng.randrange(10**6)), message_id(rng))
                events.extend(lifecycle(rng, stranger, BASE_TS + lo))
        rng.shuffle(events)
        yield events


def sendgrid_body(events: list[dict[str, Any]]) -> bytes:
    # SendGrid's signed body ends with CRLF.
    return orjson.dumps(events) + b"\r\n"


@dataclass
class Signer:
    """Signs as SendGrid does (the headers of app.cli.sign_sendgrid), with the key loaded once."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def verification_key(self) -> str:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    @property
    def private_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def headers(self, body: bytes) -> dict[str, str]:
        ts = str(int(time.time()))
        signature = self.key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            TIMESTAMP_HEADER: ts,
            "Content-Type": "application/json",
        }


def new_uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(bytes=rng.randbytes(16), version=4)
