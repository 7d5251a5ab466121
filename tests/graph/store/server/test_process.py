"""The local server's process plumbing: pid files, ports, waiting for exit, logs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from graph.store.server.process import (
    free_port,
    is_neo4j_process,
    log_tail,
    pid_alive,
    port_free,
    read_pid,
    redact,
    wait_for_exit,
)


def test_pid_files_that_are_missing_or_garbled_hold_no_pid(tmp_path: Path) -> None:
    assert read_pid(tmp_path / "absent.pid") is None
    (tmp_path / "bad.pid").write_text("not a number")
    assert read_pid(tmp_path / "bad.pid") is None
    (tmp_path / "good.pid").write_text("123\n")
    assert read_pid(tmp_path / "good.pid") == 123


def test_this_process_is_alive_but_no_neo4j() -> None:
    assert pid_alive(os.getpid()) and not is_neo4j_process(os.getpid())


def test_a_free_port_is_free() -> None:
    assert port_free(free_port())


def test_wait_for_exit_returns_the_code_of_its_child() -> None:
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    assert wait_for_exit(child.pid, child, timeout=30) == 3
    assert not pid_alive(child.pid)


def test_wait_for_exit_gives_up_after_the_timeout() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(TimeoutError):
            wait_for_exit(child.pid, child, timeout=0.3)
    finally:
        child.kill()
        child.wait()


def test_the_password_never_shows_in_a_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    assert log_tail(log, secret="s3cret") == "(no log)"
    log.write_text("".join(f"line {i} s3cret\n" for i in range(20)))
    tail = log_tail(log, secret="s3cret", lines=3)
    assert tail.splitlines() == [f"line {i} ********" for i in (17, 18, 19)]
    assert redact("no secret yet", None) == "no secret yet"
