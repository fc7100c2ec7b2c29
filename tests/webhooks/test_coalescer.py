"""Group commit: concurrent requests share transactions, yet each gets its own answer."""

from __future__ import annotations

import asyncio

from app.domain.events import ParsedBatch
from app.webhooks.coalescer import IngestCoalescer
from app.webhooks.service import Submission
from tests.conftest import make_settings, running
from tests.fixtures.factories import sg_event, unique
from tests.fixtures.keys import sendgrid_body


async def test_many_single_event_requests_each_get_their_counts(register, post_sendgrid, get_email):
    emails = [await register(external_id=unique("c")) for _ in range(30)]
    answers = await asyncio.gather(
        *(post_sendgrid([sg_event("delivered", landed_email_id=e["id"])]) for e in emails)
    )
    assert [a.status_code for a in answers] == [200] * 30
    assert all(a.json()["stored"] == 1 and a.json()["duplicates"] == 0 for a in answers)
    for email in emails[:5]:
        assert (await get_email(email["id"]))["status"] == "delivered"


async def test_one_event_in_two_concurrent_requests_is_stored_once(post_sendgrid):
    event = sg_event("delivered")
    answers = await asyncio.gather(*(post_sendgrid([event]) for _ in range(4)))
    stored = [a.json()["stored"] for a in answers]
    assert sorted(stored) == [0, 0, 0, 1]
    assert sum(a.json()["duplicates"] for a in answers) == 3


async def test_a_failed_group_commit_fails_every_request_with_503(sendgrid_keys, jwt_keys):
    from app.main import create_app

    settings = make_settings(
        "postgresql+asyncpg://postgres@127.0.0.1:1/none",
        sendgrid_keys,
        jwt_keys,
        db_pool_timeout_seconds=1,
    )
    async with running(create_app(settings)) as c:
        bodies = [sendgrid_body([sg_event("delivered")]) for _ in range(5)]
        answers = await asyncio.gather(
            *(
                c.post("/v1/webhooks/sendgrid", content=b, headers=sendgrid_keys.sign(b))
                for b in bodies
            )
        )
    assert [a.status_code for a in answers] == [503] * 5


async def test_stop_finishes_what_was_submitted(app):
    coalescer = IngestCoalescer(app.state.sessionmaker, flushers=1)
    coalescer.start()
    batch = ParsedBatch(events=[], rejects=[])
    pending = asyncio.create_task(coalescer.submit(Submission("sendgrid", batch)))
    await asyncio.sleep(0)
    await coalescer.stop()
    assert (await pending).received == 0
