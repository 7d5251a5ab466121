"""A small batch run, and `abusenet serve` on it as a real subprocess on a free port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
SYNTH_MAPPING = ROOT / "configs" / "mappings" / "synth.yaml"
TOKEN = "test-token-'\"-value"
#: Starts `serve` through its own Typer app (the lead wires it into abusenet.cli).
LAUNCH = ("import typer; from abusenet.commands.serve import register; app = typer.Typer(); "
          "app.callback()(lambda: None); register(app); app()")


@pytest.fixture(autouse=True)
def no_threads_left() -> Iterator[None]:
    """Every test stops the threads it started (event writers, write-through): a thread left
    running makes the forked stages of a later `abusenet run` in this process unsafe."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0
    while (left := [t for t in threading.enumerate() if t not in before and t.is_alive()]):
        if time.monotonic() > deadline:
            pytest.fail(f"threads left running: {sorted(t.name for t in left)}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def batch_run(small_run) -> Path:
    """A finished `abusenet run` over 400 generated accounts (a quick model): the session's
    ``small_run`` (tests/abusenet/conftest.py), read-only; tests serve a copy (:func:`run_dir`)."""
    return small_run[0]


@pytest.fixture
def run_dir(batch_run, tmp_path) -> Path:
    """A private copy of the batch run (the service writes into its event store)."""
    target = tmp_path / "run"
    shutil.copytree(batch_run, target)
    return target


@dataclass
class Service:
    """A running `abusenet serve` process and a client authorised for it."""

    process: subprocess.Popen
    url: str
    client: httpx.Client

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(run_dir: Path, *extra: str, token: str | None = TOKEN) -> Service:
    """Start `serve` on ``run_dir`` and wait until /readyz answers."""
    port = free_port()
    env = {**os.environ}
    env.pop("ABUSENET_API_TOKEN", None)
    if token is not None:
        env["ABUSENET_API_TOKEN"] = token
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "serve", "--run", str(run_dir), "--port", str(port),
         *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited: {process.stdout.read()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        raise AssertionError("serve did not become ready in 120 s")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Service(process, url, httpx.Client(base_url=url, headers=headers, timeout=60))


def shared_device_events(prefix: str, member: str, other: str) -> list[dict]:
    """A newcomer signing up on ``member``'s new device, ``member`` logging in on it and sending
    money to ``other``: the events the state tests apply before comparing with a rebuild."""
    return [
        {"event_id": f"{prefix}1", "account_id": "newcomer", "ts": "2025-01-20T09:00:00Z",
         "event_type": "signup", "device_id": "dev-shared", "ip": "10.0.0.9"},
        {"event_id": f"{prefix}2", "account_id": member, "ts": "2025-01-20T10:00:00Z",
         "event_type": "login", "device_id": "dev-shared"},
        {"event_id": f"{prefix}3", "account_id": member, "ts": "2025-01-21T03:00:00Z",
         "event_type": "transfer", "counterparty_id": other, "amount": 75.5},
    ]


def apply_and_rebuild(state, events: list[dict], run_dir: Path, out: Path):
    """Apply ``events`` to ``state`` through the service's validator and writer, then build a
    snapshot of the run's event store (what `abusenet score` would read) into ``out``."""
    from abusenet.serve.state import run_paths
    from abusenet.serve.validation import EventValidator, canonical_mapping
    from abusenet.serve.writer import EventWriter
    from graph.build import build_snapshot

    checked = EventValidator(canonical_mapping(state.ingest_state)).check(events)
    writer = EventWriter(state)
    writer.submit(checked.events, checked.reasons)
    writer.close()
    return build_snapshot(run_paths(run_dir)["events"], out, progress=False)
