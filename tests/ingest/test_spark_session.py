"""The Spark engine's session settings (ingest/spark_session.py), checked without starting Spark."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ingest.spark_session import (
    JAVA_OPTIONS,
    LOCAL_DEFAULTS,
    LOCAL_JAVA_OPTIONS,
    SPARK_SQL_CONF,
    _with_class_archive,
    session_conf,
    session_settings,
)


def test_the_jvm_may_compile_huge_generated_methods_beside_the_callers_options():
    plain = session_settings(4, {})
    assert plain["spark.driver.extraJavaOptions"] == JAVA_OPTIONS
    assert JAVA_OPTIONS.split() == ["-XX:-DontCompileHugeMethods", "-XX:CompileThresholdScaling=4"]
    assert plain["spark.executor.extraJavaOptions"] == JAVA_OPTIONS
    given = session_settings(4, {"spark.executor.extraJavaOptions": "-Xss8m"})
    assert given["spark.executor.extraJavaOptions"] == f"{JAVA_OPTIONS} -Xss8m"
    assert given["spark.driver.extraJavaOptions"] == JAVA_OPTIONS


def test_cached_tables_are_uncompressed_unless_the_caller_says_otherwise():
    assert session_settings(4, {})["spark.sql.inMemoryColumnarStorage.compressed"] == "false"
    compressed = {"spark.sql.inMemoryColumnarStorage.compressed": "true"}
    assert session_settings(4, compressed)["spark.sql.inMemoryColumnarStorage.compressed"] == "true"


def test_the_callers_settings_win_over_the_defaults():
    settings = session_settings(3, {"spark.ui.showConsoleProgress": "true"})
    assert settings["spark.sql.shuffle.partitions"] == "3"
    assert settings["spark.sql.files.minPartitionNum"] == "3"
    assert settings["spark.ui.showConsoleProgress"] == "true"
    assert all(settings[key] == value for key, value in SPARK_SQL_CONF.items())


def test_a_local_session_gets_a_larger_heap_unless_the_caller_sets_one():
    assert "spark.driver.memory" not in session_settings(4, {})
    assert session_settings(4, {}, local=True)["spark.driver.memory"] == LOCAL_DEFAULTS[
        "spark.driver.memory"] == "3g"
    given = session_settings(4, {"spark.driver.memory": "1g"}, local=True)
    assert given["spark.driver.memory"] == "1g"


def test_only_a_local_session_leaves_its_shuffles_uncompressed():
    local, cluster = session_settings(4, {}, local=True), session_settings(4, {})
    for key in ("spark.shuffle.compress", "spark.shuffle.spill.compress"):
        assert local[key] == "false"
        assert key not in cluster


def test_a_local_session_uses_the_throughput_collector_unless_the_caller_names_one():
    local = session_settings(4, {}, local=True)
    assert LOCAL_JAVA_OPTIONS == "-XX:+UseParallelGC"
    for key in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"):
        assert local[key] == f"{JAVA_OPTIONS} -XX:+UseParallelGC"
        assert "UseParallelGC" not in session_settings(4, {})[key]
    given = session_settings(4, {"spark.driver.extraJavaOptions": "-XX:+UseG1GC -Xss8m"},
                             local=True)
    assert given["spark.driver.extraJavaOptions"] == f"{JAVA_OPTIONS} -XX:+UseG1GC -Xss8m"
    assert given["spark.executor.extraJavaOptions"] == f"{JAVA_OPTIONS} -XX:+UseParallelGC"
    other = session_settings(4, {"spark.driver.extraJavaOptions": "-Xss8m"}, local=True)
    assert other["spark.driver.extraJavaOptions"] == f"{JAVA_OPTIONS} -XX:+UseParallelGC -Xss8m"


class _Conf(dict):
    """A session's ``conf`` (get with a default, set, unset) over a dict."""

    def set(self, key, value):
        self[key] = value

    def unset(self, key):
        del self[key]


def test_settings_for_a_block_are_put_back_after_it_even_when_it_fails():
    spark = SimpleNamespace(conf=_Conf({"a": "1"}))
    with session_conf(spark, {"a": "2", "b": "3"}):
        assert spark.conf == {"a": "2", "b": "3"}
    assert spark.conf == {"a": "1"}
    with pytest.raises(KeyError), session_conf(spark, {"b": "3"}):
        raise KeyError("b")
    assert spark.conf == {"a": "1"}


def test_a_local_driver_gets_its_class_archive_from_the_users_cache(tmp_path, monkeypatch):
    pytest.importorskip("pyspark")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    settings = session_settings(4, {}, local=True)
    options = _with_class_archive(settings)
    folder = tmp_path / "abusenet" / "spark-cds"
    assert options.startswith(f"{settings['spark.driver.extraJavaOptions']} "
                              f"-XX:ArchiveClassesAtExit={folder}/spark-")
    own = session_settings(4, {"spark.driver.extraJavaOptions": "-Xshare:off"}, local=True)
    assert _with_class_archive(own) == own["spark.driver.extraJavaOptions"]
