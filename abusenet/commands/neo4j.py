"""``abusenet neo4j install | start | stop | status | dump | restore | rotate-password``.

The local Neo4j server: its life cycle, its backups and its password.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from graph.store.server import LocalNeo4j

neo4j_app = typer.Typer(
    help=(
        "Manage a local Neo4j Community server assembled from Maven Central jars: bound to "
        "127.0.0.1, authentication on, data kept where you choose. To use your own Neo4j "
        "(Docker, Aura, a cluster) instead, set NEO4J_URI, NEO4J_USER and NEO4J_PASSWORD."
    ),
    no_args_is_help=True,
)

HomeOption = typer.Option(
    None,
    "--home",
    help="Server home (jars, config, password, logs). Default: $ABUSENET_HOME/neo4j or "
    ".abusenet/neo4j.",
)


def _server(home: Path | None) -> LocalNeo4j:
    from graph.store.connection import default_neo4j_home
    from graph.store.server import LocalNeo4j

    return LocalNeo4j(home or default_neo4j_home())


def _fail(err: Exception) -> None:
    typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


@neo4j_app.command()
def install(
    home: Path | None = HomeOption,
    data_dir: Path | None = typer.Option(
        None, help="Where the databases live. Default: <home>/data."
    ),
    bolt_port: int = typer.Option(7687, help="Bolt port on 127.0.0.1."),
    http_port: int = typer.Option(7474, help="HTTP port on 127.0.0.1 (Neo4j Browser)."),
    heap: str = typer.Option("1g", help="JVM heap size, e.g. 1g or 4g."),
    pagecache: str = typer.Option("512m", help="Page cache size, e.g. 512m or 4g."),
    browser: bool = typer.Option(True, help="Also fetch Neo4j Browser for investigators."),
) -> None:
    """Download Neo4j (pinned version) with Maven, write its config and a random password.

    Safe to run again. The password is stored in <home>/password (mode 0600); abusenet's clients
    read it from there unless NEO4J_PASSWORD is set.
    """
    from graph.store.server import Neo4jServerError

    server = _server(home)
    try:
        settings = server.install(
            data_dir=data_dir, bolt_port=bolt_port, http_port=http_port,
            heap=heap, pagecache=pagecache, browser=browser,
        )
    except Neo4jServerError as err:
        _fail(err)
    typer.echo(
        f"Neo4j {settings['version']} installed in {server.home}\n"
        f"  bolt:     {settings['uri']}\n  data:     {settings['data_dir']}\n"
        f"  password: {server.password_path} (user neo4j)\n"
        "Start it with `abusenet neo4j start`."
    )


@neo4j_app.command()
def start(
    home: Path | None = HomeOption,
    timeout: float = typer.Option(180.0, help="Seconds to wait for Bolt to answer."),
) -> None:
    """Start the server in the background and wait until Bolt answers a query."""
    from graph.store.server import Neo4jServerError

    server = _server(home)
    try:
        status = server.start(timeout=timeout)
    except Neo4jServerError as err:
        _fail(err)
    typer.echo(
        f"Neo4j is running (pid {status.pid})\n  bolt:    {status.bolt_uri}\n"
        f"  browser: {status.browser_url}  (user neo4j, password in {server.password_path})"
    )


@neo4j_app.command()
def stop(
    home: Path | None = HomeOption,
    timeout: float = typer.Option(120.0, help="Seconds to wait for a clean shutdown."),
) -> None:
    """Stop the server cleanly (SIGTERM, then wait for it to exit)."""
    from graph.store.server import Neo4jServerError

    server = _server(home)
    try:
        before = server.status()
        server.stop(timeout=timeout)
    except Neo4jServerError as err:
        _fail(err)
    typer.echo("Neo4j stopped." if before.running else f"Neo4j was not running ({before.state}).")


@neo4j_app.command()
def status(home: Path | None = HomeOption) -> None:
    """Report whether the server is running, stopped, or left a stale pid (exit 1 unless up)."""
    current = _server(home).status()
    line = f"Neo4j: {current.state}"
    if current.pid is not None:
        line += f" (pid {current.pid})"
    if current.running:
        line += f"\n  bolt:    {current.bolt_uri}\n  browser: {current.browser_url}"
    elif current.state == "stale":
        line += ": the server is gone (crashed or killed); `abusenet neo4j start` will clean up"
    typer.echo(line)
    raise typer.Exit(0 if current.running else 1)


@neo4j_app.command()
def dump(
    to: Path = typer.Option(..., "--to", help="The dump file to write, e.g. backups/graph.dump."),
    home: Path | None = HomeOption,
    database: str = typer.Option("neo4j", help="The database to dump."),
    force: bool = typer.Option(False, "--force", help="Replace the file when it exists."),
) -> None:
    """Back up the local server's database into one file (neo4j-admin database dump).

    A running server is stopped for the dump and started again; a stopped one stays stopped.
    The file is written under a temporary name and renamed at the end. Users and passwords are
    not in it (they live in the system database).
    """
    from graph.store.server import Neo4jServerError
    from graph.store.server.backup import dump_database

    try:
        done = dump_database(_server(home), to, database=database, force=force)
    except (Neo4jServerError, OSError) as err:
        _fail(err)
    typer.echo(f"Dumped database {done.database!r} into {done.path} "
               f"({done.size:,} bytes, {done.seconds:.1f} s)"
               + ("; Neo4j is running again." if done.restarted else "."))


@neo4j_app.command()
def restore(
    source: Path = typer.Argument(..., help="A file written by `abusenet neo4j dump`."),
    home: Path | None = HomeOption,
    database: str = typer.Option("neo4j", help="The database to replace."),
) -> None:
    """Replace the local server's database with a dump (neo4j-admin database load).

    The file is checked first; a missing, empty or damaged file is refused and the database
    kept. A running server is stopped for the load and started again; when the load fails the
    database it had is put back.
    """
    from graph.store.server import Neo4jServerError
    from graph.store.server.backup import restore_database

    try:
        done = restore_database(_server(home), source, database=database)
    except (Neo4jServerError, OSError) as err:
        _fail(err)
    typer.echo(f"Restored database {done.database!r} from {done.path} ({done.seconds:.1f} s)"
               + ("; Neo4j is running again." if done.restarted else
                  "; start Neo4j with `abusenet neo4j start`."))


@neo4j_app.command("rotate-password")
def rotate_password(home: Path | None = HomeOption) -> None:
    """Give the neo4j user a new random password on the running server and store it in
    <home>/password (mode 0600). Clients using the old one must log in again."""
    from graph.store.server import Neo4jServerError

    server = _server(home)
    try:
        server.rotate_password()
    except Neo4jServerError as err:
        _fail(err)
    typer.echo(f"The neo4j user has a new password, stored in {server.password_path}.")


def register(app: typer.Typer) -> None:
    """Add the ``neo4j`` command group to ``app``."""
    app.add_typer(neo4j_app, name="neo4j")
