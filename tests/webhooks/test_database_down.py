"""Every provider answers 503 with Retry-After when the database is down, so its ESP retries
(for Mailgun this includes the replay check, which lives in the database)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.main import create_app
from tests.conftest import make_settings, running
from tests.fixtures.factories import sg_event
from tests.fixtures.keys import SendGridKeys, sendgrid_body
from tests.fixtures.providers import mailgun as mg
from tests.fixtures.providers import postmark as pm
from tests.fixtures.providers import resend as rs
from tests.fixtures.providers import ses

RECIPIENT = "ada.lovelace@example.com"
UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/landed"

Signed = tuple[bytes, dict[str, str]]


def _sendgrid(keys: SendGridKeys) -> Signed:
    body = sendgrid_body([sg_event("delivered", RECIPIENT)])
    return body, keys.sign(body)


def _mailgun(_: SendGridKeys) -> Signed:
    return mg.body(mg.event("delivered", RECIPIENT)), {"content-type": "application/json"}


def _postmark(_: SendGridKeys) -> Signed:
    item = pm.event("delivery", msg_id=pm.message_id(), recipient=RECIPIENT)
    return pm.body(item), pm.headers(trace_id=pm.trace_id())


def _ses(_: SendGridKeys) -> Signed:
    message = ses.notification(ses.ses_event("delivery", msg_id=ses.message_id()))
    return ses.body(message), ses.headers(message)


def _resend(_: SendGridKeys) -> Signed:
    raw = rs.body(rs.event("email.delivered", (RECIPIENT,), resend_id=rs.email_id()))
    return raw, rs.headers(raw)


SIGNED: dict[str, Callable[[SendGridKeys], Signed]] = {
    "sendgrid": _sendgrid,
    "mailgun": _mailgun,
    "postmark": _postmark,
    "ses": _ses,
    "resend": _resend,
}


@pytest.mark.parametrize("provider", sorted(SIGNED))
async def test_database_down_is_503_for_every_provider(sendgrid_keys, jwt_keys, provider):
    settings = make_settings(UNREACHABLE, sendgrid_keys, jwt_keys, db_pool_timeout_seconds=1)
    application = create_app(settings)
    aws = ses.FakeAws()
    async with running(application) as client, aws.client() as http:
        application.state.adapters["ses"].sns.use_http_client(http)
        body, headers = SIGNED[provider](sendgrid_keys)
        response = await client.post(f"/v1/webhooks/{provider}", content=body, headers=headers)
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "30"
    assert response.json()["error"]["code"] == "database_unavailable"
