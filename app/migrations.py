"""Run Alembic migrations programmatically (start-up, `landed migrate`, tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory


def _project_root() -> Path:
    """Where alembic.ini and migrations/ live: beside the package in a checkout, else the
    working directory (an installed package, as in the Docker image)."""
    for candidate in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if (candidate / "alembic.ini").is_file() and (candidate / "migrations").is_dir():
            return candidate
    raise RuntimeError("alembic.ini and migrations/ not found beside the package or in the cwd")


ROOT = _project_root()


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade_head(database_url: str) -> None:
    """Blocking; env.py runs its own event loop, so call it from a thread inside async code."""
    command.upgrade(alembic_config(database_url), "head")


async def upgrade_head_async(database_url: str) -> None:
    await asyncio.to_thread(upgrade_head, database_url)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("unused")).get_current_head()
