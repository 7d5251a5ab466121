"""The service's token: from the environment or a private file, never blank; checked exactly."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from abusenet.serve.security import TOKEN_ENV, authorized, resolve_token, token_file


def test_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, " s3cret ")
    assert resolve_token(tmp_path) == ("s3cret", f"the environment variable {TOKEN_ENV}")
    assert not token_file(tmp_path).exists()


def test_a_private_file_is_made_once_then_reused(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    first, source = resolve_token(tmp_path)
    assert len(first) >= 32 and str(token_file(tmp_path)) in source
    assert stat.S_IMODE(token_file(tmp_path).stat().st_mode) == 0o600
    assert resolve_token(tmp_path)[0] == first


def test_a_blank_token_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    token_file(tmp_path).parent.mkdir(parents=True)
    token_file(tmp_path).write_text("\n")
    with pytest.raises(ValueError, match="api_token is blank"):
        resolve_token(tmp_path)


@pytest.mark.parametrize(("header", "ok"), [
    ("Bearer s3cret", True), ("Bearer  s3cret ", True), ("Bearer other", False),
    ("bearer s3cret", False), ("s3cret", False), (None, False), ("Bearer ", False),
])
def test_only_the_bearer_token_is_authorized(header: str | None, ok: bool) -> None:
    assert authorized(header, "s3cret") is ok
