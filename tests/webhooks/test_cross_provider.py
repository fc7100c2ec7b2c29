"""The same story told by every provider ends in the same status, badge and flags.

Two stories, each told by SendGrid, Mailgun, Postmark, Amazon SES (via SNS) and Resend, with
each provider's own payloads and signatures, posted the way that provider posts them (SendGrid
in one batch, the others one event per request):

- "opened":  sent → delivered → opened by a person. Matched through our email id in the
  provider's metadata (custom args / user-variables / Metadata / tags), and the email is
  registered without a provider message id, so no other path could have matched it.
- "bounced": sent → hard bounce (the mailbox does not exist). Matched through the provider's
  message id + recipient, with no metadata in the events.

Every provider's result must equal one expected result per story, so all five agree. The
failure category (and with it the advice text) may differ by provider; the badge's label, icon
and tone may not, and a bounce must always carry a reason and advice."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.fixtures.factories import BASE_TS, sg_event, sg_message_id
from tests.fixtures.providers import mailgun as mg
from tests.fixtures.providers import postmark as pm
from tests.fixtures.providers import resend as rs
from tests.fixtures.providers import ses

PROVIDERS = ("sendgrid", "mailgun", "postmark", "ses", "resend")
STORIES = ("opened", "bounced")
RECIPIENT = "ada.lovelace@example.com"

# The timeline each story leaves (Postmark has no "sent" event, so no "accepted" entry).
KINDS = {
    "opened": ["accepted", "delivered", "opened"],
    "bounced": ["accepted", "hard_bounce"],
}

# What the dashboard shows at the end of each story, whichever provider told it.
EXPECTED: dict[str, dict[str, Any]] = {
    "opened": {
        "status": "opened",
        "bounce_type": None,
        "badge": {
            "label": "Opened",
            "icon": "👁",
            "tone": "success",
            "meaning": "The candidate opened the email.",
            "has_reason": False,
            "has_advice": False,
        },
        "flags": {
            "opened": True,
            "open_count": 1,
            "has_first_opened_at": True,
            "has_last_opened_at": True,
            "machine_open_count": 0,
            "clicked": False,
            "click_count": 0,
            "has_first_clicked_at": False,
            "complained": False,
            "has_complained_at": False,
            "unsubscribed": False,
            "has_unsubscribed_at": False,
        },
    },
    "bounced": {
        "status": "bounced",
        "bounce_type": "hard",
        "badge": {
            "label": "Bounced",
            "icon": "✕",
            "tone": "danger",
            "meaning": "The candidate's mail server rejected the email permanently.",
            "has_reason": True,
            "has_advice": True,
        },
        "flags": {
            "opened": False,
            "open_count": 0,
            "has_first_opened_at": False,
            "has_last_opened_at": False,
            "machine_open_count": 0,
            "clicked": False,
            "click_count": 0,
            "has_first_clicked_at": False,
            "complained": False,
            "has_complained_at": False,
            "unsubscribed": False,
            "has_unsubscribed_at": False,
        },
    },
}

Register = Callable[..., Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Wire:
    """What a teller needs: the app's client, registration, and SendGrid's signed poster."""

    client: httpx.AsyncClient
    register: Register
    post_sendgrid: Callable[..., Awaitable[httpx.Response]]


Teller = Callable[[Wire, str], Awaitable[str]]


@pytest.fixture(autouse=True)
async def aws(app) -> AsyncIterator[ses.FakeAws]:
    """SES's SNS certificate comes from a FakeAws (as in test_ses_webhook.py), not the internet."""
    fake = ses.FakeAws()
    adapter = app.state.adapters["ses"]
    async with fake.client() as http:
        adapter.sns.use_http_client(http)
        try:
            yield fake
        finally:
            adapter.sns.use_http_client(None)


def check(response: httpx.Response, stored: int = 1) -> None:
    """Every event was stored and matched: none unmatched, duplicated or quarantined."""
    assert response.status_code == 200, response.text
    assert response.json() == {
        "received": stored,
        "stored": stored,
        "duplicates": 0,
        "unmatched": 0,
        "quarantined": 0,
    }


# ---- each provider tells a story; returns our email id ---------------------------------------


async def sendgrid(wire: Wire, story: str) -> str:
    # SendGrid posts a batch; our id travels as a custom arg, which SendGrid puts top-level.
    register = wire.register
    if story == "opened":
        email = await register(provider="sendgrid", recipient=RECIPIENT)
        ours = {"landed_email_id": email["id"]}
        events = [
            sg_event("processed", RECIPIENT, timestamp=BASE_TS, **ours),
            sg_event("delivered", RECIPIENT, timestamp=BASE_TS + 5, **ours),
            sg_event("open", RECIPIENT, timestamp=BASE_TS + 60, **ours),
        ]
    else:
        message_id = sg_message_id()
        email = await register(
            provider="sendgrid", recipient=RECIPIENT, provider_message_id=message_id
        )
        # Events carry the API's X-Message-Id plus a per-server suffix.
        sg_id = {"sg_message_id": f"{message_id}.filterdrecv-p3mdw1-756b745b58-kmzbl-18-0.0"}
        events = [
            sg_event("processed", RECIPIENT, timestamp=BASE_TS, **sg_id),
            sg_event("bounce", RECIPIENT, timestamp=BASE_TS + 3, **sg_id),
        ]
    check(await wire.post_sendgrid(events), stored=len(events))
    return email["id"]


async def mailgun(wire: Wire, story: str) -> str:
    client, register = wire.client, wire.register
    # One event per request; our id travels in user-variables ("v:landed_email_id").
    msg_id = mg.message_id()
    if story == "opened":
        email = await register(provider="mailgun", recipient=RECIPIENT)
        ours = {"email_id": email["id"], "msg_id": msg_id}
        events = [
            mg.event("accepted", RECIPIENT, timestamp=BASE_TS + 0.1, **ours),
            mg.event("delivered", RECIPIENT, timestamp=BASE_TS + 5.1, **ours),
            mg.event("opened", RECIPIENT, timestamp=BASE_TS + 60.1, **ours),
        ]
    else:
        # The send API answers the message id in angle brackets; events carry it bare.
        email = await register(
            provider="mailgun", recipient=RECIPIENT, provider_message_id=f"<{msg_id}>"
        )
        events = [
            mg.event("accepted", RECIPIENT, timestamp=BASE_TS + 0.1, msg_id=msg_id),
            mg.event("failed", RECIPIENT, timestamp=BASE_TS + 3.1, msg_id=msg_id),
        ]
    for data in events:
        check(
            await client.post(
                "/v1/webhooks/mailgun",
                content=mg.body(data),
                headers={"content-type": "application/json"},
            )
        )
    return email["id"]


async def postmark(wire: Wire, story: str) -> str:
    client, register = wire.client, wire.register
    # One event per request; our id travels in Metadata. Postmark has no "sent"/"accepted"
    # webhook (only Delivery, Bounce, Open, Click, SpamComplaint, SubscriptionChange), so the
    # "sent" step is skipped here: the registration itself is the "sent" state.
    msg_id = pm.message_id()
    if story == "opened":
        email = await register(provider="postmark", recipient=RECIPIENT)
        ours = {"email_id": email["id"], "msg_id": msg_id, "recipient": RECIPIENT}
        events = [pm.event("delivery", **ours), pm.event("open", **ours)]
    else:
        email = await register(provider="postmark", recipient=RECIPIENT, provider_message_id=msg_id)
        events = [pm.event("bounce_hard", msg_id=msg_id, recipient=RECIPIENT)]
    for item in events:
        check(
            await client.post(
                "/v1/webhooks/postmark",
                content=pm.body(item),
                headers=pm.headers(trace_id=pm.trace_id()),
            )
        )
    return email["id"]


def _only_ada(event: dict[str, Any]) -> dict[str, Any]:
    """The stored permanent bounce lists two recipients; this story's message has one."""
    bounce = event["bounce"]
    bounce["bouncedRecipients"] = [
        r for r in bounce["bouncedRecipients"] if r["emailAddress"] == RECIPIENT
    ]
    event["mail"]["destination"] = [RECIPIENT]
    event["mail"]["commonHeaders"]["to"] = [RECIPIENT]
    return event


async def amazon_ses(wire: Wire, story: str) -> str:
    client, register = wire.client, wire.register
    # One SNS notification per SES event; our id travels as a message tag.
    msg_id = ses.message_id()
    if story == "opened":
        email = await register(provider="ses", recipient=RECIPIENT)
        events = [
            ses.ses_event(name, email_id=email["id"], msg_id=msg_id, destination=[RECIPIENT])
            for name in ("send", "delivery", "open")
        ]
    else:
        email = await register(provider="ses", recipient=RECIPIENT, provider_message_id=msg_id)
        events = [
            ses.ses_event("send", msg_id=msg_id, destination=[RECIPIENT]),
            _only_ada(ses.ses_event("bounce_permanent", msg_id=msg_id)),
        ]
    for event in events:
        message = ses.notification(event)
        check(
            await client.post(
                "/v1/webhooks/ses", content=ses.body(message), headers=ses.headers(message)
            )
        )
    return email["id"]


async def resend(wire: Wire, story: str) -> str:
    client, register = wire.client, wire.register
    # One Svix-signed event per request; our id travels as a tag.
    resend_id = rs.email_id()
    to = (RECIPIENT,)
    if story == "opened":
        email = await register(provider="resend", recipient=RECIPIENT)
        ours = {"to": to, "landed_email_id": email["id"], "resend_id": resend_id}
        events = [
            rs.event("email.sent", created_at="2025-11-24T16:00:00.912Z", **ours),
            rs.event("email.delivered", created_at="2025-11-24T16:00:05.120Z", **ours),
            rs.event("email.opened", created_at="2025-11-24T16:01:00.441Z", **ours),
        ]
    else:
        email = await register(
            provider="resend", recipient=RECIPIENT, provider_message_id=resend_id
        )
        events = [
            rs.event("email.sent", to, created_at="2025-11-24T16:00:00.912Z", resend_id=resend_id),
            rs.event(
                "email.bounced", to, created_at="2025-11-24T16:00:03.733Z", resend_id=resend_id
            ),
        ]
    for event in events:
        raw = rs.body(event)
        check(await client.post("/v1/webhooks/resend", content=raw, headers=rs.headers(raw)))
    return email["id"]


TELLERS: dict[str, Teller] = {
    "sendgrid": sendgrid,
    "mailgun": mailgun,
    "postmark": postmark,
    "ses": amazon_ses,
    "resend": resend,
}


# ---- what the dashboard shows ----------------------------------------------------------------


def observable(got: dict[str, Any]) -> dict[str, Any]:
    """Status, badge and flags; times and free text reduced to "is it there"."""
    badge = got["badge"]
    flags = got["flags"]
    return {
        "status": got["status"],
        "bounce_type": got["bounce_type"],
        "badge": {
            "label": badge["label"],
            "icon": badge["icon"],
            "tone": badge["tone"],
            "meaning": badge["meaning"],
            "has_reason": bool((badge.get("reason") or "").strip()),
            "has_advice": bool((badge.get("advice") or "").strip()),
        },
        "flags": {
            (f"has_{key}" if key.endswith("_at") else key): (
                value is not None if key.endswith("_at") else value
            )
            for key, value in flags.items()
        },
    }


@pytest.fixture
async def tell(client, register, post_sendgrid, get_email):
    """Tell a story through a provider; returns the email as GET /v1/emails/{id} shows it."""
    wire = Wire(client, register, post_sendgrid)

    async def do(provider: str, story: str) -> dict[str, Any]:
        email_id = await TELLERS[provider](wire, story)
        return await get_email(email_id)

    return do


@pytest.mark.parametrize("story", STORIES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_story_ends_the_same_for_every_provider(tell, provider, story):
    got = await tell(provider, story)
    assert observable(got) == EXPECTED[story], provider
    kinds = [k for k in KINDS[story] if not (provider == "postmark" and k == "accepted")]
    assert [e["kind"] for e in got["events"]] == kinds
    assert {e["provider"] for e in got["events"]} == {provider}
    if story == "bounced":
        (bounce,) = (e for e in got["events"] if e["kind"] == "hard_bounce")
        assert bounce["failure_category"]  # the advice is chosen from it


@pytest.mark.parametrize("story", STORIES)
async def test_all_five_providers_agree(tell, story):
    """Side by side in one test: any provider that differs is named with its result."""
    results = {provider: observable(await tell(provider, story)) for provider in PROVIDERS}
    differing = {p: r for p, r in results.items() if r != results["sendgrid"]}
    assert not differing, {"sendgrid": results["sendgrid"], **differing}
