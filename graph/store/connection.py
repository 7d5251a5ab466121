"""Where abusenet keeps its state, how it finds the Neo4j it talks to, and what a failure means.

Connection settings are resolved in this order, first match wins, field by field:

1. an explicit URI (``--neo4j-uri``);
2. the environment: ``NEO4J_URI``, ``NEO4J_USER``, ``NEO4J_PASSWORD``, ``NEO4J_DATABASE`` (read by
   pydantic-settings; an empty variable counts as unset);
3. the ``neo4j:`` section of a config file (``uri``, ``user``, ``database``; never a password);
4. the local server that ``abusenet neo4j install`` set up: its URI and its password file.

The URI ``local`` names that local server wherever a URI is given. :func:`local_server_for` is
the one answer to "is this the local server?", and :func:`explain_neo4j_error` the one
translation of a connection, login or database failure into a message for the user.

Secrets never come from code and are never printed: :class:`Neo4jSettings` hides the password in
its ``repr`` and ``str``, and messages redact ``user:password@`` in URIs.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from graph.store.server.local import LocalNeo4j

#: Environment variable naming the state directory (default ``.abusenet`` in the working dir).
HOME_ENV = "ABUSENET_HOME"
#: The URI that names the installed local server.
LOCAL_URI = "local"

logger = logging.getLogger(__name__)


def state_dir() -> Path:
    """The directory for abusenet's local state (Neo4j server, caches)."""
    return Path(os.environ.get(HOME_ENV, ".abusenet")).resolve()


def default_neo4j_home() -> Path:
    """Where ``abusenet neo4j install`` puts the local server unless told otherwise."""
    return state_dir() / "neo4j"


class Neo4jConfigError(ValueError):
    """The Neo4j connection asked for cannot be set up; the message says what to do."""


class Neo4jSettings(BaseSettings):
    """How to reach a Neo4j server. The password is kept out of ``repr``, ``str`` and logs.

    Fields not given as keyword arguments come from ``NEO4J_URI``, ``NEO4J_USER``,
    ``NEO4J_PASSWORD`` and ``NEO4J_DATABASE``, then from the defaults.
    """

    model_config = SettingsConfigDict(env_prefix="NEO4J_", env_ignore_empty=True, frozen=True)

    uri: str
    user: str = "neo4j"
    password: str | None = Field(default=None, repr=False)
    database: str = "neo4j"
    #: Seconds a managed transaction keeps retrying transient failures (a server restarting, a
    #: deadlock) before the error reaches the user; with :attr:`connect_timeout` it bounds how
    #: long a dead or absent server takes to be reported (about twice their sum at most).
    retry_seconds: float = Field(default=3.0, gt=0)
    #: Seconds to open one connection (a host that never answers fails after this).
    connect_timeout: float = Field(default=3.0, gt=0)

    @property
    def auth(self) -> tuple[str, str] | None:
        """The ``(user, password)`` pair for the driver, or ``None`` without a password."""
        return None if self.password is None else (self.user, self.password)


def local_server_for(settings: Neo4jSettings, home: Path | None = None) -> LocalNeo4j | None:
    """The installed local server whose URI ``settings`` name, or ``None``.

    Parameters
    ----------
    settings
        The connection settings in use.
    home
        The local server's home; defaults to :func:`default_neo4j_home`.
    """
    local = LocalNeo4j(home or default_neo4j_home())
    installed = _local_uri(local)
    if installed is None:
        return None
    return local if _endpoint(installed) == _endpoint(settings.uri) else None


#: Hosts that name this machine's loopback interface.
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def _endpoint(uri: str) -> tuple[str, int] | None:
    """Host and port a Bolt URI reaches, whatever its scheme (``bolt://`` direct or
    ``neo4j://`` routing, the same server here) and however loopback is spelt; ``None`` for
    what is not a URI."""
    parsed = urlsplit(uri)
    if parsed.scheme not in {"bolt", "neo4j"} or not parsed.hostname:
        return None
    host = parsed.hostname.lower()
    return ("127.0.0.1" if host in _LOOPBACK else host), parsed.port or 7687


def local_browser_url(settings: Neo4jSettings, home: Path | None = None) -> str | None:
    """The Neo4j Browser address when ``settings`` point at the local server, else ``None``."""
    local = local_server_for(settings, home)
    return None if local is None else local.browser_url()


def resolve_neo4j_settings(
    config: Mapping[str, Any] | None = None,
    *,
    uri: str | None = None,
    neo4j_home: Path | None = None,
    local_fallback: bool = True,
) -> Neo4jSettings | None:
    """Work out the Neo4j connection, or ``None`` when no server is configured anywhere.

    Parameters
    ----------
    config
        The ``neo4j:`` section of a config file, if any.
    uri
        An explicit URI (e.g. from ``--neo4j-uri``); it wins over everything else. ``local``
        (here, in ``NEO4J_URI`` or in the config) names the installed local server.
    neo4j_home
        The local server's home; defaults to :func:`default_neo4j_home`.
    local_fallback
        Whether the installed local server is used when nothing names a server (a pipeline run
        uses Neo4j only when asked to).

    Raises
    ------
    Neo4jConfigError
        When the URI is ``local`` but no local server is installed.
    """
    config = config or {}
    local = LocalNeo4j(neo4j_home or default_neo4j_home())
    local_uri = _local_uri(local)
    env = EnvSettingsSource(Neo4jSettings)()

    chosen = uri or env.get("uri") or config.get("uri")
    if chosen is None and local_fallback:
        chosen = local_uri
    if chosen is None:
        return None
    if chosen == LOCAL_URI:
        if local_uri is None:
            raise Neo4jConfigError(
                f"--neo4j-uri local: no local Neo4j is installed in {local.home}; run "
                "`abusenet neo4j install` and `abusenet neo4j start` (or `make neo4j-start`) "
                "first, or pass the bolt:// URI of your own server"
            )
        chosen = local_uri
    values: dict[str, Any] = {"uri": chosen}
    for key in ("user", "database"):
        if key not in env and config.get(key):
            values[key] = config[key]
    if "password" not in env and chosen == local_uri:
        values["password"] = local.read_password()
    settings = Neo4jSettings(**values)
    logger.debug("Neo4j at %s, database %r, user %r, %s", redact_uri(settings.uri),
                 settings.database, settings.user,
                 "no password" if settings.password is None else "with a password")
    return settings


def explain_neo4j_error(exc: BaseException, settings: Neo4jSettings) -> str | None:
    """The one-paragraph message for a Neo4j connection, login or database failure.

    Returns ``None`` for any other error. The message names the server (with any password in
    its URI redacted) and says how to fix the problem; it never contains the password.

    Parameters
    ----------
    exc
        The error the driver raised.
    settings
        The settings the connection was made with.
    """
    import neo4j.exceptions as nex

    where = (f"Neo4j at {redact_uri(settings.uri)} (database {settings.database!r}, "
             f"user {settings.user!r})")
    if isinstance(exc, nex.AuthError):
        message = (
            f"{where} refused the login: the user name or password is wrong. Set NEO4J_USER and "
            "NEO4J_PASSWORD to the server's credentials; for the local server started with "
            "`abusenet neo4j start`, leave NEO4J_PASSWORD unset so abusenet reads the password "
            "file it generated (<ABUSENET_HOME>/neo4j/password). `abusenet run` also works "
            "without Neo4j: drop --neo4j-uri and unset NEO4J_URI."
        )
    elif isinstance(exc, nex.ServiceUnavailable | nex.DatabaseUnavailable | ConnectionError) or (
        isinstance(exc, OSError | ValueError) and _raised_by_driver_network(exc)
    ):
        message = (
            f"cannot reach {where}: {exc}. Start the local server with `abusenet neo4j start` "
            "(or `make neo4j-start`), check the URI and port (`abusenet neo4j status` prints "
            "them); `abusenet run` also works without Neo4j: drop --neo4j-uri and unset "
            "NEO4J_URI."
        )
    elif isinstance(exc, nex.ConfigurationError):
        message = (
            f"{where} cannot be used as given: {exc}. Write the URI as bolt://host:7687 or "
            "neo4j://host:7687 (a routing URI for a cluster), without a user or password in it: "
            "set NEO4J_USER and NEO4J_PASSWORD instead."
        )
    elif isinstance(exc, nex.ClientError) and "database" in str(exc).lower():
        message = (
            f"{where} has no usable database {settings.database!r}: {exc.message}. Set "
            "NEO4J_DATABASE or the config's neo4j.database to an existing database."
        )
    else:
        return None
    return _redact_secrets(message, settings)


def redact_uri(uri: str) -> str:
    """``uri`` with the password of any ``user:password@`` part replaced by ``***``."""
    return _USERINFO.sub(r"\1***@", uri)


_USERINFO = re.compile(r"(//[^/@:\s]*:)[^/@\s]*@")


def _redact_secrets(text: str, settings: Neo4jSettings) -> str:
    text = _USERINFO.sub(r"\1***@", text)
    if settings.password:
        text = text.replace(settings.password, "***")
    return text


#: The Neo4j driver's modules that resolve addresses and open sockets.
_DRIVER_NETWORK_MODULES = ("neo4j._async_compat.network", "neo4j.addressing", "neo4j._sync.io",
                           "neo4j._async.io")


def _raised_by_driver_network(exc: BaseException) -> bool:
    """Whether ``exc`` was raised where the driver reaches the server (a bad address, a socket)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "") if tb is not None else ""
    return module.startswith(_DRIVER_NETWORK_MODULES)


def _local_uri(local: LocalNeo4j) -> str | None:
    """The Bolt URI of the server installed in ``local``'s home, or ``None``."""
    return local.read_settings()["uri"] if local.is_installed() else None

