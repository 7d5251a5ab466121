"""The service's bearer token: where it comes from, and the one comparison that checks it.

The token is ``ABUSENET_API_TOKEN`` when set; otherwise a random one kept in a 0600 file beside
the run (created at the first start, reused after). Its value is never logged: the start-up
line names only its source.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from ingest.files import write_text_atomic

TOKEN_ENV = "ABUSENET_API_TOKEN"


def token_file(run_dir: Path) -> Path:
    """Where ``serve`` keeps the token of the run in ``run_dir`` when none is given."""
    return run_dir / ".work" / "serve" / "api_token"


def resolve_token(run_dir: Path) -> tuple[str, str]:
    """(the token, where it came from, for the start-up line: never the token itself).

    Raises
    ------
    ValueError
        When the token file exists but is blank: an empty token would let any
        ``Authorization: Bearer`` header in.
    """
    given = os.environ.get(TOKEN_ENV, "").strip()
    if given:
        return given, f"the environment variable {TOKEN_ENV}"
    path = token_file(run_dir)
    if not path.is_file():
        write_text_atomic(path, secrets.token_urlsafe(32) + "\n", mode=0o600)
    token = path.read_text().strip()
    if not token:
        raise ValueError(f"the API token file {path} is blank; delete it (a new token is made "
                         f"at the next start) or set {TOKEN_ENV}")
    return token, f"the file {path} (mode 0600)"


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (constant-time comparison)."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer "):].strip().encode(), token.encode())
