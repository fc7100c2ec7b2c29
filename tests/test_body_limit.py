"""Every route refuses an oversized body before reading it, authenticated or not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.main import create_app
from tests.conftest import make_settings, running

LIMIT = 64 * 1024
TOO_LARGE = {
    "code": "payload_too_large",
    "message": "The request body is too large.",
    "details": {"limit_bytes": LIMIT},
}


@pytest.fixture
async def small_app_client(database_url, sendgrid_keys, jwt_keys):
    settings = make_settings(
        database_url,
        sendgrid_keys,
        jwt_keys,
        max_request_body_bytes=LIMIT,
        max_webhook_body_bytes=LIMIT,
    )
    async with running(create_app(settings)) as client:
        yield client


async def test_declared_length_over_the_limit_is_413_before_auth(small_app_client):
    response = await small_app_client.post(
        "/v1/emails/batch",
        content=b" " * (LIMIT + 1),
        headers={"content-type": "application/json"},  # and no Authorization at all
    )
    assert response.status_code == 413
    assert response.json()["error"] == TOO_LARGE


async def test_streamed_body_over_the_limit_is_cut_off_with_413(small_app_client, service_headers):
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):  # 100 × 4 KiB, no Content-Length
            yield b" " * 4096

    response = await small_app_client.post(
        "/v1/emails",
        content=chunks(),
        headers={**service_headers, "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == TOO_LARGE


async def test_a_body_under_the_limit_goes_through(small_app_client, service_headers):
    response = await small_app_client.post(
        "/v1/emails/statuses", json={"ids": []}, headers=service_headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


async def test_the_cap_is_never_below_the_webhook_cap(database_url, sendgrid_keys, jwt_keys):
    """A webhook body under its own cap is never refused by the general one."""
    settings = make_settings(
        database_url,
        sendgrid_keys,
        jwt_keys,
        max_request_body_bytes=LIMIT,
        max_webhook_body_bytes=4 * LIMIT,
    )
    async with running(create_app(settings)) as client:
        response = await client.post(
            "/v1/webhooks/sendgrid",
            content=b" " * (2 * LIMIT),
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 401  # past the size check: the signature is missing
