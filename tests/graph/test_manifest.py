from datetime import UTC, datetime

import pandas as pd

from graph.manifest import SCHEMA_VERSION, events_meta, make_manifest
from ingest.state import IngestState


def test_manifest_names_every_table_with_its_count_then_the_meta():
    manifest = make_manifest(
        nodes={"Account": (3, ["n_events"]), "IP": (2, [])},
        relations={"USED_IP": ("Account", "IP", 4)},
        labels=(2, 1),
        meta={"build_seconds": 0.5},
    )
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["nodes"]["Account"] == {
        "file": "nodes/Account.parquet", "count": 3, "features": ["n_events"]}
    assert manifest["relations"]["USED_IP"] == {
        "file": "edges/USED_IP.parquet", "src": "Account", "dst": "IP", "count": 4}
    assert manifest["labels"] == {"file": "labels.parquet", "count": 2, "positives": 1}
    assert list(manifest)[-1] == "build_seconds"
    assert make_manifest({}, {}, None, {})["labels"] is None


def test_events_meta_is_the_same_for_aware_and_naive_utc_times(tmp_path):
    path = tmp_path / "events.parquet"
    pd.DataFrame({"ts": [1, 2, 3]}).to_parquet(path)
    state = IngestState(files={"abc:m1": {"rows_in": 3}})

    def meta(first: datetime, last: datetime) -> dict:
        return events_meta(by_type={"login": 2, "payment": 1}, first_ts=first, last_ts=last,
                           files=[path], state=state,
                           event_type_features={"login": "n_events_login"})

    naive = meta(datetime(2024, 1, 1, 10), datetime(2024, 1, 3))  # Spark: UTC session time
    aware = meta(datetime(2024, 1, 1, 10, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))
    assert naive == aware
    assert aware["events"] == {
        "count": 3, "first_ts": "2024-01-01T10:00:00+00:00",
        "last_ts": "2024-01-03T00:00:00+00:00", "by_type": {"login": 2, "payment": 1},
        "files": 1, "rows": 3,
    }
    assert aware["inputs"] == [{"sha256": "abc", "mapping": "m1", "rows_in": 3}]
    assert aware["event_type_features"] == {"login": "n_events_login"}


def test_events_meta_without_events_has_no_time_span():
    empty = events_meta(by_type={}, first_ts=None, last_ts=None, files=[],
                        state=IngestState(), event_type_features={})
    assert empty["events"]["first_ts"] is None and empty["events"]["count"] == 0
