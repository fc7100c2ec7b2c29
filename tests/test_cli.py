"""The `landed` helpers: keygen and sign round-trip through the real webhook route."""

from __future__ import annotations

import json

from app.cli import main
from tests.conftest import make_settings, running
from tests.fixtures.factories import sg_event


async def test_keygen_and_sign_round_trip(tmp_path, capsys, database_url, sendgrid_keys, jwt_keys):
    key_file = tmp_path / "sg.pem"
    assert main(["sendgrid-keygen", "--private-key", str(key_file)]) == 0
    verification_key = capsys.readouterr().out.strip()
    payload = tmp_path / "events.json"
    payload.write_text(json.dumps([sg_event("delivered")]))
    assert main(["sendgrid-sign", str(payload), "--private-key", str(key_file)]) == 0
    headers = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())

    from app.main import create_app

    settings = make_settings(
        database_url,
        sendgrid_keys,
        jwt_keys,
        providers={"sendgrid": {"verification_key": verification_key}},
    )
    async with running(create_app(settings)) as c:
        response = await c.post(
            "/v1/webhooks/sendgrid", content=payload.read_bytes(), headers=headers
        )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1


def test_openapi_check_passes(capsys):
    assert main(["openapi", "--check"]) == 0
