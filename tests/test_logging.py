"""Structured logs at DEBUG: every flow logs without clashing with LogRecord fields, and
never writes secrets, signature headers or payloads."""

from __future__ import annotations

import orjson

from app.main import create_app
from tests.conftest import SERVICE_TOKEN, make_settings, running
from tests.fixtures.factories import email_payload, sg_event
from tests.fixtures.keys import sendgrid_body


async def test_logs_are_json_events_without_secrets(capfd, database_url, sendgrid_keys, jwt_keys):
    settings = make_settings(database_url, sendgrid_keys, jwt_keys, log_level="DEBUG")
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    async with running(create_app(settings)) as c:
        email = (
            await c.post("/v1/emails", json=email_payload(external_id="log-1"), headers=headers)
        ).json()
        body = sendgrid_body(
            [sg_event("delivered", landed_email_id=email["id"], reason="secret-payload-text")]
        )
        signed = sendgrid_keys.sign(body)
        assert (
            await c.post("/v1/webhooks/sendgrid", content=body, headers=signed)
        ).status_code == 200
        bad = dict(signed, **{"X-Twilio-Email-Event-Webhook-Signature": "AAAA"})
        assert (await c.post("/v1/webhooks/sendgrid", content=body, headers=bad)).status_code == 401
        await c.get(
            "/v1/candidates/cand-1/contact-history", params={"org_id": "org-acme"}, headers=headers
        )
    err = capfd.readouterr().err
    events = [orjson.loads(line) for line in err.splitlines() if line.startswith("{")]
    names = {e["event"] for e in events}
    assert {"emails.registered", "webhook.ingested", "webhook.signature_invalid"} <= names
    ingested = next(e for e in events if e["event"] == "webhook.ingested")
    assert ingested["stored"] == 1
    assert ingested["provider"] == "sendgrid"
    for secret in (
        SERVICE_TOKEN,
        signed["X-Twilio-Email-Event-Webhook-Signature"],
        "secret-payload-text",
        jwt_keys.secret,
    ):
        assert secret not in err
