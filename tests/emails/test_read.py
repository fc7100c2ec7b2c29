"""GET /v1/emails/{id} and POST /v1/emails/statuses: tenancy and bulk reads."""

from __future__ import annotations

import uuid

from tests.fixtures.factories import BASE_TS, sg_event, sg_message_id


async def test_email_with_timeline(client, register, post_sendgrid, user_headers):
    email = await register()
    await post_sendgrid(
        [
            sg_event("open", landed_email_id=email["id"], timestamp=BASE_TS + 60),
            sg_event("delivered", landed_email_id=email["id"], timestamp=BASE_TS),
        ]
    )
    response = await client.get(f"/v1/emails/{email['id']}", headers=user_headers("org-acme"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "opened"
    assert [e["kind"] for e in body["events"]] == ["delivered", "opened"]
    assert body["candidate_id"] == "cand-1"


async def test_other_organisations_email_is_404(client, register, user_headers, service_headers):
    email = await register(org_id="org-other")
    for headers, params in [
        (user_headers("org-acme"), {}),
        (service_headers, {"org_id": "org-acme"}),
        (user_headers("org-acme"), {"org_id": "org-other"}),
    ]:
        response = await client.get(f"/v1/emails/{email['id']}", headers=headers, params=params)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


async def test_unknown_or_garbage_id_is_404(client, user_headers):
    for email_id in [uuid.uuid4(), "not-a-uuid"]:
        response = await client.get(f"/v1/emails/{email_id}", headers=user_headers())
        assert response.status_code == 404


async def test_service_token_read_needs_org_id(client, register, service_headers):
    email = await register()
    response = await client.get(f"/v1/emails/{email['id']}", headers=service_headers)
    assert response.status_code == 400
    assert "org_id" in response.json()["error"]["message"]


async def test_reads_need_credentials(client, register):
    email = await register()
    assert (await client.get(f"/v1/emails/{email['id']}")).status_code == 401


async def test_statuses_by_id(client, register, post_sendgrid, service_headers):
    a, b = await register(), await register()
    await post_sendgrid([sg_event("bounce", landed_email_id=b["id"])])
    missing = str(uuid.uuid4())
    response = await client.post(
        "/v1/emails/statuses", headers=service_headers, json={"ids": [a["id"], b["id"], missing]}
    )
    assert response.status_code == 200
    body = response.json()
    by_id = {i["id"]: i for i in body["items"]}
    assert by_id[a["id"]]["status"] == "sent"
    assert by_id[b["id"]]["status"] == "bounced"
    assert body["not_found"] == [missing]


async def test_statuses_by_provider_message_id(client, register, post_sendgrid, service_headers):
    message_id = sg_message_id()
    await register(provider_message_id=message_id, recipient="one@example.com")
    await register(provider_message_id=message_id, recipient="two@example.com")
    await post_sendgrid(
        [sg_event("delivered", "two@example.com", sg_message_id=f"{message_id}.filter1")]
    )
    response = await client.post(
        "/v1/emails/statuses",
        headers=service_headers,
        json={"provider": "sendgrid", "provider_message_ids": [f"{message_id}.x", "nope"]},
    )
    body = response.json()
    assert sorted((i["recipient"], i["status"]) for i in body["items"]) == [
        ("one@example.com", "sent"),
        ("two@example.com", "delivered"),
    ]
    assert body["not_found"] == ["nope"]


async def test_statuses_org_filter(client, register, service_headers):
    email = await register(org_id="org-b")
    response = await client.post(
        "/v1/emails/statuses",
        headers=service_headers,
        json={"ids": [email["id"]], "org_id": "org-a"},
    )
    assert response.json() == {"items": [], "not_found": [email["id"]]}


async def test_statuses_validation(client, service_headers, user_headers):
    for body in [
        {},
        {"ids": [], "provider_message_ids": []},
        {"provider_message_ids": ["x"]},
        {"ids": [str(uuid.uuid4())] * 1001},
    ]:
        response = await client.post("/v1/emails/statuses", json=body, headers=service_headers)
        assert response.status_code == 422, body
    forbidden = await client.post("/v1/emails/statuses", json={"ids": []}, headers=user_headers())
    assert forbidden.status_code == 403
