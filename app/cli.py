"""`landed`: serve, migrate, write the OpenAPI document, and try the SendGrid webhook locally."""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path

DEFAULT_OPENAPI = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def _database_url() -> str:
    from app.config import Settings

    settings = Settings()
    if settings.database_url:
        return settings.database_url
    from app.embedded_pg import start_embedded

    url = start_embedded(settings.data_dir)
    print(f"embedded PostgreSQL: data in {settings.data_dir.resolve()}/pgdata", file=sys.stderr)
    return url


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.config import Settings
    from app.migrations import upgrade_head

    url = _database_url()
    if Settings().migrate_on_start:
        upgrade_head(url)
    # Workers inherit the URL, so they share this server instead of starting their own.
    os.environ["LANDED_DATABASE_URL"] = url
    print(
        f"Landed starting on http://{args.host}:{args.port} ({args.workers} workers)",
        file=sys.stderr,
    )
    uvicorn.run(
        "app.asgi:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        proxy_headers=True,
        access_log=False,
    )
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from app.migrations import head_revision, upgrade_head

    upgrade_head(_database_url())
    print(f"database at revision {head_revision()}")
    return 0


def render_openapi() -> str:
    import orjson

    from app.config import Settings
    from app.main import create_app

    spec = create_app(Settings(database_url="postgresql+asyncpg://unused/unused")).openapi()
    return orjson.dumps(spec, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"


def cmd_openapi(args: argparse.Namespace) -> int:
    rendered = render_openapi()
    path = Path(args.output)
    if args.check:
        if not path.exists() or path.read_text() != rendered:
            print(f"{path} is out of date: run `landed openapi`", file=sys.stderr)
            return 1
        return 0
    path.write_text(rendered)
    print(f"wrote {path}")
    return 0


def cmd_sendgrid_keygen(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    out = Path(args.private_key)
    out.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    out.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    print(f"private key written to {out}", file=sys.stderr)
    print("verification key (set LANDED_SENDGRID__VERIFICATION_KEY to this):", file=sys.stderr)
    print(base64.b64encode(public).decode())
    return 0


def sign_sendgrid(private_pem: bytes, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers SendGrid would send for this body."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from app.providers.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER

    key = serialization.load_pem_private_key(private_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        SIGNATURE_HEADER: base64.b64encode(signature).decode(),
        TIMESTAMP_HEADER: ts,
        "Content-Type": "application/json",
    }


def cmd_sendgrid_sign(args: argparse.Namespace) -> int:
    body = Path(args.payload).read_bytes()
    headers = sign_sendgrid(Path(args.private_key).read_bytes(), body)
    if args.post:
        import httpx

        response = httpx.post(args.post, content=body, headers=headers, timeout=30)
        print(f"HTTP {response.status_code} {response.text}")
        return 0 if response.is_success else 1
    for name, value in headers.items():
        print(f"{name}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="landed", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, then run the API with uvicorn")
    serve.add_argument("--host", default=os.environ.get("LANDED_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("LANDED_PORT", "8000")))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("LANDED_WORKERS", "2")))
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    openapi = sub.add_parser("openapi", help="write (or --check) openapi/openapi.json")
    openapi.add_argument("--output", default=str(DEFAULT_OPENAPI))
    openapi.add_argument("--check", action="store_true")
    openapi.set_defaults(func=cmd_openapi)

    keygen = sub.add_parser("sendgrid-keygen", help="make a SendGrid-style ECDSA P-256 key pair")
    keygen.add_argument("--private-key", default="sendgrid-private.pem")
    keygen.set_defaults(func=cmd_sendgrid_keygen)

    sign = sub.add_parser("sendgrid-sign", help="sign a payload file as SendGrid would")
    sign.add_argument("payload")
    sign.add_argument("--private-key", default="sendgrid-private.pem")
    sign.add_argument("--post", metavar="URL", help="POST it there and print the answer")
    sign.set_defaults(func=cmd_sendgrid_sign)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
