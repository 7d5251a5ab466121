import pytest

from ingest.engine import connect, memory_bytes


def test_memory_sizes_in_duckdb_notation():
    assert memory_bytes("2GB") == 2_000_000_000
    assert memory_bytes("512MiB") == 512 * 2**20
    assert memory_bytes(" 1.5 gb ") == 1_500_000_000
    with pytest.raises(ValueError, match="ABUSENET_DUCKDB_MEMORY"):
        memory_bytes("lots")


def test_connection_is_utc_and_bounded(monkeypatch, tmp_path):
    monkeypatch.setenv("ABUSENET_DUCKDB_MEMORY", "1GiB")
    con = connect(tmp_path / "spill", memory_share=0.5)
    try:
        assert con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0] == "UTC"
        limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        assert limit.replace(" ", "") in ("512.0MiB", "512MiB", "536.8MB")
    finally:
        con.close()
    assert (tmp_path / "spill").is_dir()
