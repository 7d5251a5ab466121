import os
import time

from ingest.spark_cds import (
    DYNAMIC_ARCHIVE_MAGIC,
    STALE_ARCHIVE_SECONDS,
    STALE_PART_SECONDS,
    archive_key,
    archive_options,
)


def _part(folder, key, body, name="1-a"):
    part = folder / f"{key}.{name}.part"
    part.write_bytes(body)
    return part


def test_without_an_archive_the_jvm_writes_a_part_of_its_own_quietly(tmp_path):
    options = archive_options("k", "-Xss4m", tmp_path)
    assert options.startswith(f"-XX:ArchiveClassesAtExit={tmp_path}/k.")
    assert options.split()[0].endswith(".part") and options.endswith("-Xlog:cds*=off")
    assert archive_options("k", "", tmp_path).split()[0] != options.split()[0]


def test_a_whole_part_becomes_the_archive_named_with_its_size(tmp_path):
    part = _part(tmp_path, "k", DYNAMIC_ARCHIVE_MAGIC + b"x" * 96)
    options = archive_options("k", "", tmp_path)
    assert options == f"-XX:SharedArchiveFile={tmp_path}/k-100.jsa -Xlog:cds*=off"
    assert not part.exists() and (tmp_path / "k-100.jsa").is_file()
    assert archive_options("k", "", tmp_path) == options


def test_a_part_without_its_header_is_left_to_its_writer_until_stale(tmp_path):
    part = _part(tmp_path, "k", b"\0" * 100)
    assert "ArchiveClassesAtExit" in archive_options("k", "", tmp_path)
    assert part.exists()
    old = time.time() - STALE_PART_SECONDS - 60
    os.utime(part, (old, old))
    archive_options("k", "", tmp_path)
    assert not part.exists()


def test_an_archive_of_another_size_than_its_name_is_deleted_never_used(tmp_path):
    damaged = tmp_path / "k-4096.jsa"
    damaged.write_bytes(DYNAMIC_ARCHIVE_MAGIC + b"x" * 10)
    assert "ArchiveClassesAtExit" in archive_options("k", "", tmp_path)
    assert not damaged.exists()


def test_other_keys_and_own_sharing_options_are_left_alone(tmp_path):
    other = _part(tmp_path, "other", DYNAMIC_ARCHIVE_MAGIC + b"x")
    archive_options("k", "", tmp_path)
    assert other.exists()
    assert archive_options("k", "-Xshare:off", tmp_path) == ""
    assert archive_options("k", "-XX:SharedArchiveFile=/x.jsa", tmp_path) == ""


def test_other_keys_stale_parts_and_unused_archives_are_deleted(tmp_path):
    old_part = _part(tmp_path, "other", b"\0" * 10)
    fresh_part = _part(tmp_path, "other", b"\0" * 10, name="2-b")
    unused = tmp_path / "old-100.jsa"
    used = tmp_path / "new-100.jsa"
    for archive in (unused, used):
        archive.write_bytes(DYNAMIC_ARCHIVE_MAGIC + b"x" * 96)
    now = time.time()
    os.utime(old_part, (now, now - STALE_PART_SECONDS - 60))
    os.utime(unused, (now - STALE_ARCHIVE_SECONDS - 60, now - STALE_ARCHIVE_SECONDS - 60))
    # written long ago, mapped lately
    os.utime(used, (now - 3600, now - STALE_ARCHIVE_SECONDS - 60))
    archive_options("k", "", tmp_path)
    assert not old_part.exists() and not unused.exists()
    assert fresh_part.exists() and used.exists()


def test_an_unwritable_folder_means_no_archive(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert archive_options("k", "", blocker / "cds") == ""


def test_the_key_follows_the_spark_version_and_the_jvm_options():
    key = archive_key("4.3.0", "-Xss4m", memory="3g")
    assert key == archive_key("4.3.0", "-Xss4m", memory="3g")
    assert key.startswith("spark-4.3.0-")
    assert len({key, archive_key("4.3.1", "-Xss4m", memory="3g"),
                archive_key("4.3.0", "-Xss8m", memory="3g"),
                archive_key("4.3.0", "-Xss4m", memory="6g"),
                archive_key("4.3.0", "-Xss4m", memory="3g", class_path="/x.jar")}) == 5
