"""A mapping with ``sources:``: several files in different schemas ingested in one run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from graph.build import write_snapshot_files
from ingest.mapping import MappingError, load_mapping, mapping_from_dict
from ingest.readers import InputError
from ingest.run import TooManyBadRows, ingest_logs
from ingest.state import IngestState
from ingest.store import QUARANTINE_FILE, event_files
from tests.ingest.helpers import events_table

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "mappings" / "three_sources.yaml"

SIGNUPS = {"files": "signups*.csv", "columns": {"account_id": "user", "ts": "at",
                                                 "device_id": "dev", "event_id": "id"},
           "constants": {"event_type": "signup"}, "entities": {"Email": "email"}}
PAYMENTS = {"files": ["pay/*.csv"], "columns": {"account_id": "payer", "ts": "when",
                                                "payment_id": "card", "amount": "amt",
                                                "event_id": "id"},
            "constants": {"event_type": "payment"}, "attributes": {"fee": "float"}}


def two_sources(**extra) -> dict:
    return {"sources": {"signups": dict(SIGNUPS), "payments": dict(PAYMENTS)}, **extra}


def write_logs(root: Path, *, bad_amount: bool = False) -> Path:
    """signups.csv and pay/p1.csv, whose ids are both numbered from 1."""
    (root / "pay").mkdir(parents=True, exist_ok=True)
    (root / "signups.csv").write_text("id,user,at,dev,email\n"
                                      "1,a1,2024-01-01T10:00:00Z,d1,x@m.com\n"
                                      "2,a2,2024-01-01T10:05:00Z,d1,y@m.com\n")
    amount = "oops" if bad_amount else "3.5"
    (root / "pay" / "p1.csv").write_text("id,payer,when,card,amt,fee\n"
                                         "1,a2,2024-01-02T09:00:00Z,c1,10,0.5\n"
                                         f"2,a3,2024-01-02T09:30:00Z,c1,{amount},0.1\n")
    return root


def ingest(inputs, events: Path, raw: dict, **kwargs):
    kwargs.setdefault("progress", False)
    return ingest_logs(inputs, mapping_from_dict(raw, "m.yaml"), events, **kwargs)


def test_sources_parse_with_the_union_of_entities_and_attributes():
    mapping = mapping_from_dict(two_sources(labels={"account_id": "a", "label": "l"}))
    assert [s.name for s in mapping.sources] == ["signups", "payments"]
    assert [e.node_type for e in mapping.entities] == ["Email"]
    assert mapping.attributes == {"fee": "float"}
    assert mapping.labels is not None and mapping.columns == {}
    listed = mapping_from_dict({"sources": [{"name": "signups", **SIGNUPS},
                                            {"name": "payments", **PAYMENTS}]})
    assert listed.fingerprint() == mapping.fingerprint()
    assert load_mapping(EXAMPLE).sources


@pytest.mark.parametrize(("raw", "match"), [
    ({**two_sources(), "columns": {"account_id": "u"}}, "'columns' goes under each source"),
    ({"sources": {}}, "'sources' is empty"),
    ({"sources": {"s": {"columns": {}}}}, r"sources\.s\.files must be a glob"),
    ({"sources": {"s": {**SIGNUPS, "columns": {"ts": "at"}}}},
     r"\(sources\.s\): required canonical column 'account_id'"),
    ({"sources": {"s": {**SIGNUPS, "colums": {}}}}, r"unknown key sources\.s\.colums"),
    ({"sources": [{"name": "a", **SIGNUPS}, {"name": "a", **PAYMENTS}]}, "named alike"),
    ({"sources": {"a": SIGNUPS, "b": {**PAYMENTS, "attributes": {"fee": "string"},
                                      "entities": {}}, "c": PAYMENTS}},
     r"attributes\.fee is 'float' here but 'string'"),
    ({"sources": {"a": SIGNUPS, "b": {**PAYMENTS, "entities": {
        "Email": {"column": "card", "relation": "PAID_TO_EMAIL"}}}}}, "use one name"),
    ({"sources": {"a": {**SIGNUPS, "timestamps": {"missing": "row_order"},
                        "columns": {"account_id": "user"}}}}, "row_order times one file"),
])
def test_bad_sources_are_refused_naming_the_key(raw, match):
    with pytest.raises(MappingError, match=match):
        mapping_from_dict(raw)


def test_one_store_with_the_union_schema_and_both_sources_ids(tmp_path):
    logs = write_logs(tmp_path / "logs")
    summary = ingest(logs, tmp_path / "ev", two_sources())
    assert summary.balanced and summary.accepted == 4
    names = {tuple(pq.read_schema(p).names) for p in event_files(tmp_path / "ev")}
    assert len(names) == 1  # every day file has one schema: the union
    assert set(next(iter(names))) >= {"email_id", "fee", "payment_id", "device_id"}
    events = events_table(tmp_path / "ev").set_index("event_id")
    # both sources number their rows from 1: both kept, as <source>:<id>
    assert sorted(events.index) == ["payments:1", "payments:2", "signups:1", "signups:2"]
    assert events.loc["signups:1", "email_id"] == "x@m.com"
    assert pd.isna(events.loc["signups:1", "fee"]) and pd.isna(events.loc["payments:1",
                                                                          "email_id"])
    assert events.loc["payments:2", "amount"] == 3.5
    again = ingest(logs, tmp_path / "ev", two_sources())
    assert (again.files_new, again.files_skipped, again.events_total) == (0, 2, 4)


def test_each_file_matches_exactly_one_source_and_each_source_a_file(tmp_path):
    logs = write_logs(tmp_path / "logs")
    (logs / "extra.csv").write_text("x\n1\n")
    with pytest.raises(MappingError, match=r"extra\.csv matches no source's files: glob"):
        ingest(logs, tmp_path / "ev", two_sources())
    (logs / "extra.csv").unlink()
    both = two_sources()
    both["sources"]["payments"]["files"] = ["pay/*.csv", "*.csv"]
    with pytest.raises(MappingError, match=r"signups\.csv matches 2 sources \(signups by "
                                           r"'signups\*\.csv', payments by '\*\.csv'\)"):
        ingest(logs, tmp_path / "ev", both)
    typo = two_sources()
    typo["sources"]["payments"]["files"] = "payment/*.csv"
    with pytest.raises(MappingError, match="pay/p1.csv matches no source"):
        ingest(logs, tmp_path / "ev", typo)
    with pytest.raises(MappingError, match=r"source payments's files \(pay/\*\.csv\) match "
                                           "none of the 1 input files"):
        ingest(logs / "signups.csv", tmp_path / "ev", two_sources())
    assert not (tmp_path / "ev").exists()  # refused before any work


def test_a_missing_column_names_the_source_and_file(tmp_path):
    logs = write_logs(tmp_path / "logs")
    raw = two_sources()
    raw["sources"]["payments"]["attributes"] = {"tax": "float"}
    with pytest.raises(MappingError, match=r"\(sources\.payments\): attributes\.tax names "
                                           r"source column 'tax', which source payments: "
                                           r".*p1\.csv does not have"):
        ingest(logs, tmp_path / "ev", raw)


def test_each_source_is_validated_alone(tmp_path):
    logs = write_logs(tmp_path / "logs", bad_amount=True)
    with pytest.raises(TooManyBadRows, match=r"^source payments: 1 of 2 rows \(50\.0%\)"):
        ingest(logs, tmp_path / "ev", two_sources(), max_bad_fraction=0.3)
    # 1 bad row of 4 is within 30% of the run, but not of the payments' 2 rows: refused above
    summary = ingest(logs, tmp_path / "ev", two_sources(), max_bad_fraction=0.5)
    assert summary.reasons == {"payments: non-numeric amount": 1}
    bad = pq.read_table(tmp_path / "ev" / QUARANTINE_FILE).to_pandas()
    assert bad[["source", "line", "reason", "amt"]].values.tolist() == [
        ["payments", 3, "non-numeric amount", "oops"]]


def test_a_later_source_with_a_new_entity_type_widens_the_store(tmp_path):
    logs = write_logs(tmp_path / "logs")
    first = {"sources": {"payments": PAYMENTS}}
    ingest(logs / "pay", tmp_path / "ev", first)
    summary = ingest(logs, tmp_path / "ev", two_sources())
    assert (summary.files_new, summary.files_skipped) == (1, 1)  # payments kept, not redone
    assert IngestState.load(tmp_path / "ev").entities == {
        "Email": {"column": "email_id", "relation": "USED_EMAIL"}}
    manifest = write_snapshot_files(tmp_path / "ev", tmp_path / "snap", progress=False)
    assert manifest["nodes"]["Email"]["count"] == 2
    assert manifest["relations"]["USED_EMAIL"]["count"] == 2
    assert manifest["nodes"]["PaymentMethod"]["count"] == 1


def test_the_fingerprint_follows_every_source(tmp_path):
    base = mapping_from_dict(two_sources()).fingerprint()
    changed = two_sources()
    changed["sources"]["payments"]["constants"] = {"event_type": "purchase"}
    assert mapping_from_dict(changed).fingerprint() != base
    renamed = {"sources": {"signups": SIGNUPS, "pays": PAYMENTS}}
    assert mapping_from_dict(renamed).fingerprint() != base


def test_the_example_mapping_is_valid_yaml_with_three_sources():
    raw = yaml.safe_load(EXAMPLE.read_text())
    assert list(raw["sources"]) == ["signups", "logins", "payments"]


def test_sources_of_other_formats_and_headerless_files_in_one_run(tmp_path):
    logs = tmp_path / "logs"
    (logs / "pay").mkdir(parents=True)
    (logs / "signups.tsv").write_text("1\ta1\t2024-01-01T10:00:00Z\td1\tx@m.com\n")
    pay = pd.DataFrame({"id": ["1"], "payer": ["a1"], "when": ["2024-01-02T09:00:00Z"],
                        "card": ["c1"], "amt": [2.0], "fee": [0.1]})
    pay.to_parquet(logs / "pay" / "p.parquet")
    raw = two_sources()
    raw["sources"]["signups"] |= {"files": "signups*.tsv",
                                  "header": ["id", "user", "at", "dev", "email"]}
    raw["sources"]["payments"]["files"] = "pay/*.parquet"
    summary = ingest(logs, tmp_path / "ev", raw)
    assert (summary.accepted, summary.quarantined) == (2, 0)
    events = events_table(tmp_path / "ev").set_index("event_id")
    assert events.loc["signups:1", "device_id"] == "d1"
    assert events.loc["payments:1", "fee"] == 0.1


def test_clean_csv_sources_take_the_direct_path(tmp_path, caplog):
    logs = write_logs(tmp_path / "logs")
    with caplog.at_level("DEBUG", logger="ingest.run"):
        summary = ingest(logs, tmp_path / "ev", two_sources())
    assert "direct path: 4 rows of 2 clean CSV files stored" in caplog.text
    assert summary.accepted == 4
    assert sorted(events_table(tmp_path / "ev").event_id) == [
        "payments:1", "payments:2", "signups:1", "signups:2"]


def test_event_labels_of_one_source_name_its_own_ids(tmp_path):
    from ingest.event_labels import load_event_labels

    raw = two_sources(event_labels={"source": "payments", "event_id": "txn", "label": "bad"})
    mapping = mapping_from_dict(raw, "m.yaml")
    (tmp_path / "ev.csv").write_text("txn,bad\n1,1\n2,0\n")
    rows = load_event_labels(tmp_path / "ev.csv", mapping)
    assert rows.table.column("event_id").to_pylist() == ["payments:1", "payments:2"]
    ingest(write_logs(tmp_path / "logs"), tmp_path / "ev", raw)
    write_snapshot_files(tmp_path / "ev", tmp_path / "snap", mapping=mapping,
                         event_labels=tmp_path / "ev.csv", progress=False)
    kept = pq.read_table(tmp_path / "snap" / "event_labels.parquet").to_pandas()
    assert sorted(kept.event_id) == ["payments:1", "payments:2"]  # matched to the events
    with pytest.raises(MappingError, match=r"event_labels\.source 'pay' is not a source"):
        mapping_from_dict(two_sources(event_labels={"source": "pay", "event_id": "t",
                                                    "label": "b"}))
    with pytest.raises(MappingError, match=r"unknown key event_labels\.source"):
        mapping_from_dict({"columns": {"account_id": "u", "ts": "t", "event_type": "e"},
                           "event_labels": {"source": "x", "event_id": "t", "label": "b"}})


def test_a_source_column_named_source_keeps_the_quarantine_apart(tmp_path):
    logs = write_logs(tmp_path / "logs", bad_amount=True)
    raw = two_sources()
    raw["sources"]["payments"]["attributes"] = {"fee": "float", "source": "string"}
    with (logs / "pay" / "p1.csv").open("r+") as fh:
        lines = fh.read().splitlines()
        fh.seek(0)
        fh.write("\n".join([lines[0] + ",source"] + [f"{x},app" for x in lines[1:]]) + "\n")
    summary = ingest(logs, tmp_path / "ev", raw, max_bad_fraction=0.5)
    assert summary.quarantined == 1
    bad = pq.read_table(tmp_path / "ev" / QUARANTINE_FILE).to_pandas()
    assert bad[["_source", "source", "amt"]].values.tolist() == [["payments", "app", "oops"]]
    assert IngestState.load(tmp_path / "ev").sources() == {"signups", "payments"}


def test_a_file_stored_as_another_source_is_refused_not_doubled(tmp_path):
    logs = write_logs(tmp_path / "logs")
    plain = {k: v for k, v in PAYMENTS.items() if k != "files"}
    ingest(logs / "pay", tmp_path / "ev", plain)
    with pytest.raises(InputError, match=r"p1\.csv is already in this events directory as a "
                                         r"one-source mapping; read again as source 'payments'"):
        ingest(logs, tmp_path / "ev", two_sources())
    ingest(logs, tmp_path / "ev2", two_sources())
    renamed = {"sources": {"signups": SIGNUPS, "pays": PAYMENTS}}
    with pytest.raises(InputError, match=r"as source 'payments'; read again as source 'pays'"):
        ingest(logs, tmp_path / "ev2", renamed)
    assert len(events_table(tmp_path / "ev2")) == 4


def test_a_later_drop_may_lack_a_source_the_store_holds(tmp_path):
    logs = write_logs(tmp_path / "logs")
    ingest(logs, tmp_path / "ev", two_sources())
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "signups-2.csv").write_text("id,user,at,dev,email\n3,a3,2024-01-03T10:00:00Z,d2,z@m\n")
    summary = ingest(drop, tmp_path / "ev", two_sources())
    assert (summary.files_new, summary.events_total) == (1, 5)
    with pytest.raises(MappingError, match="source payments's files"):
        ingest(drop, tmp_path / "fresh", two_sources())  # a store without payments: refused


def test_globs_match_the_name_given_not_a_link_target(tmp_path):
    exports = write_logs(tmp_path / "exports")
    (exports / "signups.csv").rename(exports / "dump_17.csv")  # matches no source's glob
    links = tmp_path / "in"
    (links / "pay").mkdir(parents=True)
    (links / "signups.csv").symlink_to(exports / "dump_17.csv")
    (links / "pay" / "p1.csv").symlink_to(exports / "pay" / "p1.csv")
    summary = ingest(links, tmp_path / "ev", two_sources())
    assert (summary.files_new, summary.accepted) == (2, 4)


def test_an_empty_file_like_another_sources_is_no_repeat(tmp_path):
    logs = write_logs(tmp_path / "logs")
    same = {"sources": {"signups": SIGNUPS, "resignups": {**SIGNUPS, "files": "again*.csv"}}}
    (logs / "signups-0.csv").write_text("id,user,at,dev,email\n")  # a day without events
    (logs / "again.csv").write_text("id,user,at,dev,email\n9,a9,2024-01-05T00:00:00Z,d9,q@m\n")
    ingest([logs / "signups.csv", logs / "signups-0.csv", logs / "again.csv"], tmp_path / "ev",
           same)
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "again-1.csv").write_text("id,user,at,dev,email\n")  # the same bytes, other source
    summary = ingest(drop, tmp_path / "ev", same)
    assert summary.files_new == 1 and summary.events_total == 3
