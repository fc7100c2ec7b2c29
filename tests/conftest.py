"""Shared fixtures: a real PostgreSQL, the app over ASGI, real keys and signatures."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text

from app.config import JWTSettings, Settings
from app.main import create_app
from app.migrations import upgrade_head_async
from tests.fixtures.database import (
    create_database,
    drop_database,
    fresh_database_name,
    server_url,
)
from tests.fixtures.factories import email_payload
from tests.fixtures.keys import JWTKeys, SendGridKeys, sendgrid_body
from tests.fixtures.providers import provider_test_settings

SERVICE_TOKEN = "svc-token-for-tests-0123456789"
OTHER_SERVICE_TOKEN = "svc-token-rotated-9876543210"
TABLES = ("email_events", "quarantined_events", "webhook_nonces", "emails")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with server_url() as url:
        yield url


@pytest.fixture(scope="session")
async def database_url(pg_server: str) -> AsyncIterator[str]:
    name = fresh_database_name()
    url = await create_database(pg_server, name)
    await upgrade_head_async(url)
    try:
        yield url
    finally:
        await drop_database(pg_server, name)


@pytest.fixture(scope="session")
def sendgrid_keys() -> SendGridKeys:
    return SendGridKeys()


@pytest.fixture(scope="session")
def jwt_keys() -> JWTKeys:
    return JWTKeys()


def make_settings(
    database_url: str, sendgrid_keys: SendGridKeys, jwt_keys: JWTKeys, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "migrate_on_start": False,
        "service_tokens": SecretStr(f"{SERVICE_TOKEN},{OTHER_SERVICE_TOKEN}"),
        "jwt": JWTSettings(
            secret=SecretStr(jwt_keys.secret),
            public_key=SecretStr(jwt_keys.public_pem),
            audience=jwt_keys.audience,
            issuer=jwt_keys.issuer,
        ),
        "providers": {
            "sendgrid": {"verification_key": sendgrid_keys.setting},
            **provider_test_settings(),
        },
        "max_webhook_body_bytes": 2 * 1024 * 1024,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def settings(database_url: str, sendgrid_keys: SendGridKeys, jwt_keys: JWTKeys) -> Settings:
    return make_settings(database_url, sendgrid_keys, jwt_keys)


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give an httpx client speaking ASGI to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://landed.test") as c:
            yield c


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with running(application) as c:
        application.state.test_client = c
        yield application


@pytest.fixture
async def client(app: FastAPI) -> httpx.AsyncClient:
    return app.state.test_client


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> None:
    if "app" not in request.fixturenames:
        return
    app: FastAPI = request.getfixturevalue("app")
    async with app.state.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))


@pytest.fixture
def service_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {SERVICE_TOKEN}"}


@pytest.fixture
def user_headers(jwt_keys: JWTKeys) -> Callable[..., dict[str, str]]:
    def make(org_id: str = "org-acme", **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {jwt_keys.token(org_id, **kwargs)}"}

    return make


Register = Callable[..., Awaitable[dict[str, Any]]]
PostSendGrid = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def register(client: httpx.AsyncClient, service_headers: dict[str, str]) -> Register:
    async def do(**overrides: Any) -> dict[str, Any]:
        response = await client.post(
            "/v1/emails", json=email_payload(**overrides), headers=service_headers
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    return do


@pytest.fixture
def post_sendgrid(client: httpx.AsyncClient, sendgrid_keys: SendGridKeys) -> PostSendGrid:
    async def do(
        events: Any,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        **sign: Any,
    ) -> httpx.Response:
        raw = sendgrid_body(events) if body is None else body
        signed = sendgrid_keys.sign(raw, **sign) if headers is None else headers
        return await client.post("/v1/webhooks/sendgrid", content=raw, headers=signed)

    return do


@pytest.fixture
def get_email(client: httpx.AsyncClient, service_headers: dict[str, str]) -> Callable[..., Any]:
    async def do(email_id: str, org_id: str = "org-acme") -> dict[str, Any]:
        response = await client.get(
            f"/v1/emails/{email_id}", params={"org_id": org_id}, headers=service_headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    return do
