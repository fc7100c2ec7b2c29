"""GET /v1/candidates/{id}/contact-history: newest first, keyset pages, filters, tenancy."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import text

from tests.fixtures.factories import email_payload, sg_event, unique

URL = "/v1/candidates/{}/contact-history"
START = datetime(2025, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def history(client, service_headers):
    """25 emails for cand-1 in org-acme (two share a sent_at), 3 for cand-1 in org-other."""
    types = [
        "interview_invitation",
        "email_blast",
        "interview_reminder",
        "resume_reminder",
        "deadline_reminder",
    ]
    emails = []
    for i in range(25):
        sent_at = START + timedelta(hours=i if i != 24 else 23)
        payload = email_payload(
            type=types[i % 5],
            subject=f"Email {i}",
            sent_at=sent_at.isoformat(),
            external_id=unique("h"),
        )
        emails.append(
            (await client.post("/v1/emails", json=payload, headers=service_headers)).json()
        )
    for i in range(3):
        await client.post(
            "/v1/emails",
            headers=service_headers,
            json=email_payload(
                org_id="org-other",
                subject=f"Other {i}",
                sent_at=(START + timedelta(minutes=i)).isoformat(),
            ),
        )
    return emails


async def test_newest_first_with_badges(client, user_headers, history, post_sendgrid):
    await post_sendgrid([sg_event("bounce", landed_email_id=history[22]["id"])])
    response = await client.get(URL.format("cand-1"), headers=user_headers(), params={"limit": 5})
    assert response.status_code == 200
    items = response.json()["items"]
    sent = [i["sent_at"] for i in items]
    assert sent == sorted(sent, reverse=True)
    assert items[0]["subject"] in ("Email 23", "Email 24")
    assert set(items[0]) >= {
        "id",
        "type",
        "recipient",
        "subject",
        "sent_at",
        "status",
        "status_at",
        "badge",
        "flags",
    }
    bounced = next(i for i in items if i["id"] == history[22]["id"])
    assert bounced["badge"]["label"] == "Bounced"
    assert bounced["badge"]["advice"]


async def test_pages_cover_everything_once(client, user_headers, history):
    seen, cursor = [], None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        body = (
            await client.get(URL.format("cand-1"), headers=user_headers(), params=params)
        ).json()
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(e["id"] for e in history)
    assert len(seen) == len(set(seen)) == 25


async def test_a_sent_at_tie_split_across_pages_is_ordered_by_id(client, user_headers, history):
    """Emails 23 and 24 share a sent_at: one page each, newest id first, neither twice."""
    first = (
        await client.get(URL.format("cand-1"), headers=user_headers(), params={"limit": 1})
    ).json()
    second = (
        await client.get(
            URL.format("cand-1"),
            headers=user_headers(),
            params={"limit": 1, "cursor": first["next_cursor"]},
        )
    ).json()
    tied = sorted((history[23]["id"], history[24]["id"]), reverse=True)
    assert [first["items"][0]["id"], second["items"][0]["id"]] == tied


async def test_cursor_is_stable_under_inserts(client, user_headers, service_headers, history):
    first = (
        await client.get(URL.format("cand-1"), headers=user_headers(), params={"limit": 10})
    ).json()
    newer = email_payload(sent_at=(START + timedelta(days=30)).isoformat(), subject="newer")
    await client.post("/v1/emails", json=newer, headers=service_headers)
    second = (
        await client.get(
            URL.format("cand-1"),
            headers=user_headers(),
            params={"limit": 10, "cursor": first["next_cursor"]},
        )
    ).json()
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}
    assert "newer" not in [i["subject"] for i in second["items"]]


async def test_filters(client, user_headers, history, post_sendgrid):
    await post_sendgrid(
        [
            sg_event("delivered", landed_email_id=history[0]["id"]),
            sg_event("bounce", landed_email_id=history[1]["id"], type="blocked"),
        ]
    )
    by_type = (
        await client.get(
            URL.format("cand-1"), headers=user_headers(), params={"type": "email_blast"}
        )
    ).json()["items"]
    assert len(by_type) == 5
    assert {i["type"] for i in by_type} == {"email_blast"}
    delivered = (
        await client.get(
            URL.format("cand-1"), headers=user_headers(), params={"status": "delivered"}
        )
    ).json()["items"]
    assert [i["id"] for i in delivered] == [history[0]["id"]]
    bounced = (
        await client.get(URL.format("cand-1"), headers=user_headers(), params={"status": "bounced"})
    ).json()["items"]
    assert [i["id"] for i in bounced] == [history[1]["id"]]
    sent = (
        await client.get(
            URL.format("cand-1"), headers=user_headers(), params={"status": "sent", "limit": 200}
        )
    ).json()["items"]
    assert len(sent) == 23


async def test_other_organisation_sees_only_its_own(client, user_headers, history):
    body = (await client.get(URL.format("cand-1"), headers=user_headers("org-other"))).json()
    assert [i["subject"] for i in body["items"]] == ["Other 2", "Other 1", "Other 0"]
    assert all(i["subject"].startswith("Other") for i in body["items"])


async def test_candidate_of_another_organisation_is_404(
    client, user_headers, service_headers, history
):
    response = await client.get(URL.format("cand-1"), headers=user_headers("org-nobody"))
    assert response.status_code == 404
    response = await client.get(URL.format("cand-unknown"), headers=user_headers())
    assert response.status_code == 404
    response = await client.get(
        URL.format("cand-1"), headers=service_headers, params={"org_id": "org-nobody"}
    )
    assert response.status_code == 404


async def test_service_token_needs_org_id(client, service_headers, history):
    assert (await client.get(URL.format("cand-1"), headers=service_headers)).status_code == 400
    ok = await client.get(
        URL.format("cand-1"), headers=service_headers, params={"org_id": "org-acme"}
    )
    assert len(ok.json()["items"]) == 25


async def test_empty_filter_result_is_not_404(client, user_headers, history):
    response = await client.get(
        URL.format("cand-1"), headers=user_headers(), params={"status": "dropped"}
    )
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 201}, {"type": "fax"}, {"status": "lost"}]
)
async def test_bad_parameters_are_422(client, user_headers, params):
    response = await client.get(URL.format("cand-1"), headers=user_headers(), params=params)
    assert response.status_code == 422


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyJ4IiwieSJd", "!!!"])
async def test_bad_cursor_is_400(client, user_headers, history, cursor):
    response = await client.get(
        URL.format("cand-1"), headers=user_headers(), params={"cursor": cursor}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


async def test_response_is_exactly_the_documented_model(
    client, user_headers, history, post_sendgrid
):
    """The route serialises plain dicts for speed; they must match ContactHistoryPage."""
    from app.history.schemas import ContactHistoryPage

    await post_sendgrid(
        [
            sg_event("bounce", landed_email_id=history[3]["id"]),
            sg_event("open", landed_email_id=history[4]["id"]),
        ]
    )
    body = (
        await client.get(URL.format("cand-1"), headers=user_headers(), params={"limit": 30})
    ).json()
    assert ContactHistoryPage.model_validate(body).model_dump(mode="json") == body


async def test_reads_recover_when_the_server_drops_their_connections(
    client, user_headers, history, app
):
    """Connections of the history read pool killed by the server: the read is repeated on a
    fresh connection, so the caller never notices."""
    from app.db import READ_POOL_APPLICATION_NAME

    url = URL.format("cand-1")
    assert (await client.get(url, headers=user_headers())).status_code == 200
    async with app.state.engine.connect() as conn:
        killed = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": READ_POOL_APPLICATION_NAME},
        )
    assert killed >= 1
    for _ in range(3):
        answer = await client.get(url, headers=user_headers())
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["items"]) == 25


async def test_a_read_killed_in_the_middle_of_its_query_is_repeated(
    client, user_headers, history, app
):
    """The read waits on a table lock, its connection is killed while it waits: the caller
    still gets the page, from a new connection."""
    from app.db import READ_POOL_APPLICATION_NAME

    url = URL.format("cand-1")
    async with app.state.engine.connect() as locker, app.state.engine.connect() as killer:
        await locker.execute(text("LOCK TABLE emails IN ACCESS EXCLUSIVE MODE"))
        read = asyncio.create_task(client.get(url, headers=user_headers()))
        waiting_sql = text(
            "SELECT pid FROM pg_stat_activity WHERE application_name = :name "
            "AND wait_event_type = 'Lock' AND datname = current_database()"
        )
        for _ in range(200):
            pids = (await killer.execute(waiting_sql, {"name": READ_POOL_APPLICATION_NAME})).all()
            if pids:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the read never waited on the lock")
        await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0][0]})
        await killer.commit()
        await locker.rollback()
    response = await read
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 25


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.ConnectionDoesNotExistError("closed in the middle of operation"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.InternalClientError("cannot switch to state 12"),
        ConnectionRefusedError(),
    ],
)
def test_lost_read_connections_count_as_database_down(error):
    from app.errors import is_database_down

    assert is_database_down(error)


class _FakeConnection:
    def __init__(self, failure: BaseException | None, *, detached: bool = False) -> None:
        self.failure, self.detached, self.terminated = failure, detached, False

    def terminate(self) -> None:
        if self.detached:  # asyncpg already gave the lost connection back to the pool
            raise asyncpg.InterfaceError("connection has been released back to the pool")
        self.terminated = True


class _FakePool:
    """Hands out the given connections in turn (asyncpg.Pool.acquire's shape)."""

    def __init__(self, *connections: _FakeConnection) -> None:
        self.connections = list(connections)
        self.expired = 0

    async def expire_connections(self) -> None:
        self.expired += 1

    @contextlib.asynccontextmanager
    async def acquire(self, **_options: object):
        yield self.connections.pop(0)


async def _work(connection: _FakeConnection) -> str:
    if connection.failure is not None:
        raise connection.failure
    return "rows"


async def test_a_read_on_a_dead_connection_is_repeated_once_on_a_fresh_one():
    from app.db import ReadPool

    dead = _FakeConnection(asyncpg.ConnectionDoesNotExistError("gone"))
    fresh = _FakeConnection(None)
    pool = _FakePool(dead, fresh)
    assert await ReadPool(pool, 1.0).run(_work) == "rows"  # type: ignore[arg-type]
    assert dead.terminated
    assert not fresh.terminated
    assert pool.expired == 1  # the other idle connections are replaced too


async def test_a_connection_asyncpg_already_detached_is_still_retried():
    from app.db import ReadPool

    dead = _FakeConnection(asyncpg.ConnectionDoesNotExistError("gone"), detached=True)
    pool = _FakePool(dead, _FakeConnection(None))
    assert await ReadPool(pool, 1.0).run(_work) == "rows"  # type: ignore[arg-type]


async def test_a_second_dead_connection_fails_the_read():
    from app.db import ReadPool

    pool = _FakePool(*(_FakeConnection(asyncpg.InternalClientError("state")) for _ in range(2)))
    with pytest.raises(asyncpg.InternalClientError):
        await ReadPool(pool, 1.0).run(_work)  # type: ignore[arg-type]


async def test_a_cancelled_query_is_not_repeated():
    from app.db import ReadPool

    busy = _FakeConnection(asyncpg.exceptions.QueryCanceledError("statement timeout"))
    with pytest.raises(asyncpg.exceptions.QueryCanceledError):
        await ReadPool(_FakePool(busy, _FakeConnection(None)), 1.0).run(_work)  # type: ignore[arg-type]
    assert not busy.terminated


@pytest.mark.parametrize("keyset", [False, True])
@pytest.mark.parametrize("by_type", [False, True])
@pytest.mark.parametrize("by_status", [False, True])
async def test_every_page_query_reads_the_history_index_in_order(app, keyset, by_type, by_status):
    """Newest first straight from ix_emails_history: no sort, so LIMIT stops the scan early
    however many emails the candidate has."""
    from app.history.repository import _page_sql

    args: list = ["org-acme", "cand-1", 51]
    if keyset:
        args += [START, uuid.uuid4()]
    if by_type:
        args.append("interview_invitation")
    if by_status:
        args.append([40, 50])
    async with app.state.read_pool.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(f"EXPLAIN {_page_sql(keyset, by_type, by_status)}", *args)
        )
    assert "ix_emails_history" in plan, plan
    assert "Sort" not in plan, plan
