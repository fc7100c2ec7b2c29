from tests.fixtures.factories import sg_event, sg_message_id


async def test_register_then_delivered(register, post_sendgrid, get_email):
    email = await register(provider_message_id=sg_message_id())
    events = [
        sg_event("processed", landed_email_id=email["id"]),
        sg_event("delivered", landed_email_id=email["id"], timestamp=1_764_000_100),
    ]
    response = await post_sendgrid(events)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "received": 2,
        "stored": 2,
        "duplicates": 0,
        "unmatched": 0,
        "quarantined": 0,
    }
    got = await get_email(email["id"])
    assert got["status"] == "delivered"
    assert [e["kind"] for e in got["events"]] == ["accepted", "delivered"]
