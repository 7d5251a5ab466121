"""The local server's JVM: finding Java, and the class-data-sharing archives."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.store.server import ClassArchive, Neo4jServerError, find_java


def test_missing_java_says_which_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    with pytest.raises(Neo4jServerError, match="Java 17 or 21"):
        find_java()


def _jar_home(tmp_path: Path) -> tuple[Path, Path]:
    lib = tmp_path / "home" / "lib"
    lib.mkdir(parents=True)
    (lib / "a.jar").write_bytes(b"jar a")
    java = tmp_path / "java"
    java.write_bytes(b"a java binary")
    return lib, java


def test_class_archive_is_named_by_the_java_and_the_jars(tmp_path: Path) -> None:
    lib, java = _jar_home(tmp_path)
    first = ClassArchive("server", str(java), [lib]).path
    assert first.parent == lib.parent / "cds" and first.name.startswith("server-")
    linked = tmp_path / "other-home" / "lib"
    linked.parent.mkdir()
    linked.symlink_to(lib, target_is_directory=True)
    assert ClassArchive("server", str(java), [linked]).path == first  # shared jars, shared archive
    assert ClassArchive("import", str(java), [lib]).path != first
    (lib / "b.jar").write_bytes(b"jar b")
    assert ClassArchive("server", str(java), [lib]).path != first


def test_class_archive_is_written_once_then_read(tmp_path: Path) -> None:
    lib, java = _jar_home(tmp_path)
    archive = ClassArchive("import", str(java), [lib])
    flags, pending = archive.jvm_flags()
    assert pending is not None and flags[0] == f"-XX:ArchiveClassesAtExit={pending}"
    assert pending.parent == archive.path.parent and not archive.path.exists()
    pending.write_bytes(b"classes")  # what the JVM writes as it exits
    older = archive.path.with_name("import-0000000000000000.jsa")
    older.write_bytes(b"stale")
    other_role = archive.path.with_name("server-0000000000000000.jsa")
    other_role.write_bytes(b"kept")
    archive.commit(pending)
    assert archive.path.read_bytes() == b"classes" and not pending.exists()
    assert not older.exists() and other_role.exists()
    assert archive.jvm_flags() == ([f"-XX:SharedArchiveFile={archive.path}"], None)


def test_class_archive_not_written_is_no_error(tmp_path: Path) -> None:
    lib, java = _jar_home(tmp_path)
    archive = ClassArchive("import", str(java), [lib])
    _, pending = archive.jvm_flags()
    archive.commit(pending)  # the JVM died before writing it
    archive.commit(None)
    assert not archive.path.exists()
    assert archive.jvm_flags()[1] is not None
