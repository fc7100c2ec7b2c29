"""Bearer tokens: one test per way a user token can be refused."""

from __future__ import annotations

import time

import jwt
import pytest

URL = "/v1/candidates/cand-1/contact-history"


@pytest.fixture
async def seeded(register):
    return await register()


async def test_hs256_and_es256_tokens_work(client, jwt_keys, seeded):
    for alg in ("HS256", "ES256"):
        token = jwt_keys.token("org-acme", alg=alg)
        response = await client.get(URL, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, alg


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 3600},
        {"exp": None},
        {"aud": "someone-else"},
        {"iss": "https://evil.example"},
        {"org_id": ""},
        {"org_id": 42},
    ],
)
async def test_bad_claims_are_401(client, jwt_keys, seeded, overrides):
    token = jwt_keys.token("org-acme", **overrides)
    response = await client.get(URL, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_missing_org_claim_is_401(client, jwt_keys, seeded):
    token = jwt_keys.token(None)
    assert (await client.get(URL, headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_wrong_secret_is_401(client, seeded):
    token = jwt.encode(
        {
            "org_id": "org-acme",
            "exp": int(time.time()) + 60,
            "aud": "landed",
            "iss": "https://auth.example.test",
        },
        "x" * 40,
        algorithm="HS256",
    )
    assert (await client.get(URL, headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_alg_none_is_401(client, seeded):
    token = jwt.encode({"org_id": "org-acme", "exp": int(time.time()) + 60}, None, algorithm="none")
    assert (await client.get(URL, headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_public_key_as_hmac_secret_is_401(client, jwt_keys, seeded):
    """Algorithm confusion: an HS256 token signed with the ES256 public key must not pass."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(
        json.dumps(
            {
                "org_id": "org-acme",
                "exp": int(time.time()) + 60,
                "aud": "landed",
                "iss": "https://auth.example.test",
            }
        ).encode()
    )
    signature = hmac.new(
        jwt_keys.public_pem.encode(), f"{header}.{claims}".encode(), hashlib.sha256
    ).digest()
    token = f"{header}.{claims}.{b64(signature)}"
    assert (await client.get(URL, headers={"Authorization": f"Bearer {token}"})).status_code == 401


@pytest.mark.parametrize("value", ["", "Bearer", "Bearer ", "Basic abc", "garbage", "Bearer a.b.c"])
async def test_malformed_authorization_is_401(client, seeded, value):
    assert (await client.get(URL, headers={"Authorization": value})).status_code == 401


def test_a_remembered_token_is_checked_again_once_it_expires(monkeypatch):
    from app.auth import TokenVerifier
    from app.config import JWTSettings
    from app.errors import Unauthorized

    secret = "s" * 40
    verifier = TokenVerifier([], JWTSettings(secret=secret, leeway_seconds=0))
    now = time.time()
    token = jwt.encode({"org_id": "org-acme", "exp": int(now) + 60}, secret, algorithm="HS256")
    assert verifier.authenticate(token).org_id == "org-acme"

    def refuse(_token):
        raise Unauthorized("expired")

    monkeypatch.setattr(verifier, "_decode_jwt", refuse)
    assert verifier.authenticate(token).org_id == "org-acme"  # remembered: not decoded again
    monkeypatch.setattr(time, "time", lambda: now + 120)  # past exp: verified afresh
    with pytest.raises(Unauthorized):
        verifier.authenticate(token)


def test_an_absurdly_distant_exp_is_accepted_and_remembered():
    from app.auth import TokenVerifier
    from app.config import JWTSettings

    secret = "s" * 40
    verifier = TokenVerifier([], JWTSettings(secret=secret))
    token = jwt.encode({"org_id": "org-acme", "exp": 10**400}, secret, algorithm="HS256")
    assert verifier.authenticate(token).org_id == "org-acme"
    assert verifier.authenticate(token).org_id == "org-acme"
