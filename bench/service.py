"""The service under test, started as in production: `landed serve` (uvicorn) in a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt

from bench import procs
from bench.events import Signer

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Credentials:
    """Secrets made for this run: the SendGrid key pair, a service token, a JWT secret."""

    signer: Signer = field(default_factory=Signer)
    service_token: str = field(default_factory=lambda: "bench-" + secrets.token_urlsafe(24))
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def user_token(self, org_id: str) -> str:
        """A SPA user's bearer token for one organisation (HS256), valid for a day."""
        claims = {"sub": "bench-user", "org_id": org_id, "exp": int(time.time()) + 86_400}
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")

    def env(self) -> dict[str, str]:
        return {
            "LANDED_SENDGRID__VERIFICATION_KEY": self.signer.verification_key,
            "LANDED_SERVICE_TOKENS": self.service_token,
            "LANDED_JWT__SECRET": self.jwt_secret,
        }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """`python -m app.cli serve --host 127.0.0.1 --port P --workers N`, logs to a file."""

    def __init__(
        self,
        database_url: str,
        credentials: Credentials,
        *,
        workers: int,
        log_path: Path,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.settings = settings or {}  # extra LANDED_* settings (--set), for tuning sweeps
        self.credentials = credentials
        self.workers = workers
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, ready_within: float = 90.0) -> None:
        self._spawn()
        await self._wait_ready(ready_within)

    def _spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANDED_")}
        env.update(self.credentials.env())
        env["LANDED_DATABASE_URL"] = self.database_url
        env.update(self.settings)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "app.cli", "serve",
                    "--host", "127.0.0.1", "--port", str(self.port),
                    "--workers", str(self.workers),
                ],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    async def _wait_ready(self, within: float) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"the service exited; see {self.log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200 and (
                        self.workers == 1 or len(self.worker_pids()) == self.workers
                    ):
                        # Every worker answers once before we measure anything.
                        for _ in range(4 * self.workers):
                            await client.get("/readyz")
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"the service was not ready within {within:.0f}s; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (the server itself when it runs one worker)."""
        if self.process is None:
            return []
        if self.workers == 1:
            return [self.process.pid]
        return [
            pid
            for pid in procs.children(self.process.pid)
            if "multiprocessing" in procs.cmdline(pid)
            and "resource_tracker" not in procs.cmdline(pid)
        ]

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (uvicorn stops its workers), then SIGKILL to the process group if needed."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
        # Anything left in the group we started (a stuck worker) is killed by the group's id.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
