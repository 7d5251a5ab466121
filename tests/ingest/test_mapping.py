from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.mapping import (
    EntitySpec,
    MappingError,
    check_source_columns,
    load_mapping,
    mapping_from_dict,
    snake_case,
)

ROOT = Path(__file__).resolve().parents[2]
BASE = {"columns": {"account_id": "uid", "ts": "when", "event_type": "action"}}


def test_load_mapping_reads_the_contract_example(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        "columns:\n  account_id: uid\n  ts: when\n  amount: amt\n"
        "constants:\n  event_type: purchase\n"
        "timestamp_format: '%Y-%m-%d %H:%M:%S'\n"
        "labels:\n  account_id: uid\n  label: label\n"
    )
    mapping = load_mapping(path)
    assert mapping.columns == {"account_id": "uid", "ts": "when", "amount": "amt"}
    assert mapping.constants == {"event_type": "purchase"}
    assert mapping.timestamp_format == "%Y-%m-%d %H:%M:%S"
    assert mapping.labels.columns == {"account_id": "uid", "label": "label"}
    assert mapping.source_columns() == ["uid", "when", "amt"]
    assert mapping.path == str(path)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({**BASE, "colums": {}}, "unknown key colums"),
        ({"columns": {**BASE["columns"], "acount_id": "x"}}, "columns.acount_id"),
        ({"columns": {"ts": "when", "event_type": "a"}}, "'account_id'"),
        ({"columns": {"account_id": "uid", "ts": "when"}}, "'event_type'"),
        ({**BASE, "constants": {"event_type": "x"}}, "both under 'columns' and 'constants'"),
        ({**BASE, "attributes": {"rating": "int"}}, "attributes.rating"),
        ({**BASE, "attributes": {"ts": "float"}}, "attributes.ts"),
        ({**BASE, "entities": {"Device": "dev"}}, "entities.Device"),
        ({**BASE, "entities": {"Email": {"col": "e"}}}, "entities.Email.col"),
        ({**BASE, "labels": {"account_id": "uid"}}, "labels.label is required"),
        ({**BASE, "labels": {"account_id": "u", "label": "l", "values": {"x": 2}}}, "0 or 1"),
        ({**BASE, "header": "uid,when"}, "'header' must be a list"),
        ({**BASE, "delimiter": "ab"}, "single character"),
    ],
)
def test_invalid_mappings_name_the_key_and_the_file(raw, needle):
    with pytest.raises(MappingError) as err:
        mapping_from_dict(raw, "team.yaml")
    assert needle in str(err.value)
    assert "team.yaml" in str(err.value)


def test_missing_and_non_yaml_files_are_mapping_errors(tmp_path):
    with pytest.raises(MappingError, match="does not exist"):
        load_mapping(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: [unclosed\n")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(bad)


def test_entities_add_node_types_and_relations_without_code():
    mapping = mapping_from_dict(
        {**BASE, "entities": {"Email": "email", "ShippingAddress": {"column": "addr",
                                                                     "relation": "SHIPS_TO"}}}
    )
    assert mapping.entities == (
        EntitySpec("Email", "email", "USED_EMAIL"),
        EntitySpec("ShippingAddress", "addr", "SHIPS_TO"),
    )
    assert [e.event_column for e in mapping.entities] == ["email_id", "shipping_address_id"]
    assert mapping.source_columns()[-2:] == ["email", "addr"]


def test_check_source_columns_lists_the_columns_that_exist():
    mapping = mapping_from_dict(BASE, "team.yaml")
    check_source_columns(mapping, ["uid", "when", "action", "other"], "logs.csv")
    with pytest.raises(MappingError) as err:
        check_source_columns(mapping, ["user", "when", "action"], "logs.csv")
    text = str(err.value)
    assert "columns.account_id" in text and "'uid'" in text and "logs.csv" in text
    assert "'user', 'when', 'action'" in text


def test_a_file_without_columns_says_so(tmp_path):
    from ingest.run import ingest_logs

    mapping = mapping_from_dict(BASE, "team.yaml")
    for name, text in (("empty.json", "[]"), ("blank.json", "")):
        (tmp_path / name).write_text(text)
        with pytest.raises(MappingError, match=f"{name} has no columns at all: it is empty"):
            ingest_logs(tmp_path / name, mapping, tmp_path / "ev", progress=False)


@pytest.mark.parametrize(
    ("found", "hint"),
    [(["uid;when;action"], """set 'delimiter: ";"'"""),
     (["uid\twhen\taction"], """set 'delimiter: "\\t"'"""),
     (["a1", "2024-01-01T10:00:00Z", "login"], "looks like data, not a header"),
     (["17", "1704103200", "login"], "looks like data, not a header")],
)
def test_a_missing_column_names_the_delimiter_or_missing_header_it_suggests(found, hint):
    mapping = mapping_from_dict(BASE, "team.yaml")
    with pytest.raises(MappingError) as err:
        check_source_columns(mapping, found, "logs.csv")
    assert hint in str(err.value)
    with pytest.raises(MappingError) as err:
        check_source_columns(mapping, ["user", "when", "action"], "logs.csv")
    assert "delimiter" not in str(err.value) and "header" not in str(err.value)


def test_a_file_holding_none_of_the_mapping_columns_is_asked_about_not_told_a_delimiter():
    # a labels file picked up from a directory given to --input: its ',' is no wrong delimiter
    mapping = mapping_from_dict({**BASE, "delimiter": ";"}, "team.yaml")
    with pytest.raises(MappingError) as err:
        check_source_columns(mapping, ["card,status"], "logs/cards.csv")
    assert "None of the mapping's columns is in it" in str(err.value)
    assert "delimiter" not in str(err.value).split("None of")[0]


@pytest.mark.parametrize("found", [["sep=;"], ["sep=", ""], ["sep=,"]])
def test_excels_sep_line_is_named_as_such(found):
    mapping = mapping_from_dict(BASE, "team.yaml")
    with pytest.raises(MappingError, match="Excel's delimiter hint, not a header"):
        check_source_columns(mapping, found, "export.csv")


@pytest.mark.parametrize("name", ["UID", " uid ", "Uid "])
def test_a_column_that_differs_only_in_case_or_spaces_is_named(name):
    mapping = mapping_from_dict(BASE, "team.yaml")
    with pytest.raises(MappingError) as err:
        check_source_columns(mapping, [name, "when", "action"], "logs.csv")
    assert f"Its column {name!r} differs from 'uid' only in letter case" in str(err.value)


def test_logs_without_times_take_row_order_times_instead_of_a_ts_column():
    cols = {"account_id": "uid", "event_type": "action"}
    mapping = mapping_from_dict({"columns": cols, "timestamps": {"missing": "row_order"}})
    assert mapping.row_order_times and "ts" not in mapping.columns
    assert mapping.fingerprint() != mapping_from_dict(BASE).fingerprint()
    with pytest.raises(MappingError, match=r"timestamps: \{missing: row_order\}"):
        mapping_from_dict({"columns": cols})
    with pytest.raises(MappingError, match="drop columns.ts and timestamp_format"):
        mapping_from_dict({**BASE, "timestamps": {"missing": "row_order"}})
    with pytest.raises(MappingError, match="timestamps.missing must be row_order"):
        mapping_from_dict({"columns": cols, "timestamps": {"missing": "now"}})


def test_timezone_must_be_an_iana_zone_and_changes_the_fingerprint():
    mapping = mapping_from_dict({**BASE, "timezone": "Europe/Berlin"})
    assert mapping.timezone == "Europe/Berlin"
    assert mapping.fingerprint() != mapping_from_dict(BASE).fingerprint()
    with pytest.raises(MappingError, match="not an IANA time zone"):
        mapping_from_dict({**BASE, "timezone": "CEST+2"})


@pytest.mark.parametrize(("fmt", "said"), [
    ("", "neither a strftime pattern"), ("epoch", "nor one of epoch_s, epoch_ms"),
    ("YYYY-MM-DD HH:mm:ss", "Java / SQL patterns"), (7, "neither a strftime pattern"),
    ("%s", "(epoch seconds are 'epoch_s')"), ("%Q %Y", "Unrecognized format")])
def test_a_timestamp_format_duckdb_cannot_read_is_refused_when_the_mapping_loads(fmt, said):
    # before: '' and '%s' failed the ingest with DuckDB's traceback, 'YYYY-MM-DD' quarantined
    # every row
    with pytest.raises(MappingError, match="timestamp_format") as err:
        mapping_from_dict({**BASE, "timestamp_format": fmt}, "team.yaml")
    assert said in str(err.value)
    for fine in ("%d.%m.%Y %H:%M", "epoch_ms", "%Y-%m-%dT%H:%M:%S%z", "%d/%m/%Y '%H'"):
        assert mapping_from_dict({**BASE, "timestamp_format": fine}).timestamp_format == fine


def test_decimal_mark_is_a_dot_or_a_comma_and_a_comma_changes_the_fingerprint():
    assert mapping_from_dict(BASE).decimal_mark is None  # not said: read as "."
    comma = mapping_from_dict({**BASE, "decimal_mark": ","})
    assert comma.decimal_mark == ","
    assert comma.fingerprint() != mapping_from_dict(BASE).fingerprint()
    assert mapping_from_dict({**BASE, "decimal_mark": "."}).fingerprint() == \
        mapping_from_dict(BASE).fingerprint()
    with pytest.raises(MappingError, match="decimal_mark must be"):
        mapping_from_dict({**BASE, "decimal_mark": "'"})


def test_fingerprint_follows_the_content():
    first = mapping_from_dict(BASE, "a.yaml")
    assert first.fingerprint() == mapping_from_dict(BASE, "b.yaml").fingerprint()
    other = mapping_from_dict({"columns": {**BASE["columns"], "amount": "amt"}})
    assert first.fingerprint() != other.fingerprint()


def test_snake_case():
    assert snake_case("Email") == "email"
    assert snake_case("ShippingAddress") == "shipping_address"
    assert snake_case("IPAddress") == "ip_address"


def test_shipped_mappings_load_and_keep_labels_out_of_the_events():
    amlsim = load_mapping(ROOT / "configs/mappings/amlsim.yaml")
    assert not {"is_sar", "alert_id"} & set(amlsim.source_columns())
    assert amlsim.labels.constants == {"label": 1}
    otc = load_mapping(ROOT / "configs/mappings/bitcoin_otc.yaml")
    assert otc.header == ("src", "dst", "rating", "unix_ts")
    assert otc.labels.values == {"-1": 1, "+1": 0}
    assert otc.attributes == {"rating": "float"}


def test_timestamps_bounds_default_and_from_yaml(tmp_path):
    default = mapping_from_dict(BASE)
    assert (default.ts_min, default.ts_max_future) == (datetime(1970, 1, 1, tzinfo=UTC),
                                                       timedelta(days=1))
    path = tmp_path / "m.yaml"
    path.write_text("columns: {account_id: uid, ts: when, event_type: action}\n"
                    "timestamps: {min: 1900-01-01, max_future: 12 h}\n")
    mapping = load_mapping(path)
    assert mapping.ts_min == datetime(1900, 1, 1, tzinfo=UTC)
    assert mapping.ts_max_future == timedelta(hours=12)
    path.write_text("columns: {account_id: uid, ts: when, event_type: action}\n"
                    "timestamps: {min: '2001-02-03T04:05:00+01:00', max_future: null}\n")
    mapping = load_mapping(path)
    assert mapping.ts_min == datetime(2001, 2, 3, 3, 5, tzinfo=UTC)
    assert mapping.ts_max_future is None


@pytest.mark.parametrize(
    ("timestamps", "message"),
    [
        ({"min": "soon"}, "timestamps.min must be a date or time"),
        ({"min": "0001-01-01"}, "before the year 1000"),
        ({"max_future": 3}, "timestamps.max_future must be a duration"),
        ({"max_future": "3 months"}, "timestamps.max_future must be a duration"),
        ({"latest": "2020-01-01"}, "unknown key timestamps.latest"),
        ("1970", "'timestamps' must be a dictionary"),
    ],
)
def test_bad_timestamps_bounds_are_named(timestamps, message):
    with pytest.raises(MappingError, match=message):
        mapping_from_dict({**BASE, "timestamps": timestamps}, "m.yaml")


def test_fingerprint_changes_with_the_bounds_only_when_they_differ_from_the_default():
    default = mapping_from_dict(BASE).fingerprint()
    same = {"min": "1970-01-01", "max_future": "1 day"}
    assert mapping_from_dict({**BASE, "timestamps": same}).fingerprint() == default
    wider = {"min": "1900-01-01"}
    assert mapping_from_dict({**BASE, "timestamps": wider}).fingerprint() != default


def test_a_nested_field_as_attribute_says_what_to_do_instead():
    """``columns`` take dotted paths, ``attributes`` do not: the message says so and how to fix it,
    instead of calling the name a canonical column."""
    with pytest.raises(MappingError, match="a nested field cannot be an attribute") as err:
        mapping_from_dict({**BASE, "attributes": {"client.ua": "string"}})
    assert "export it as a top-level column" in str(err.value)
    with pytest.raises(MappingError, match="plain name that is not a canonical column"):
        mapping_from_dict({**BASE, "attributes": {"ip": "string"}})


def test_featurize_false_keeps_a_string_attribute_out_of_the_share_features():
    """``{type: string, featurize: false}`` is a string attribute the snapshot makes no share
    features of; the events (and so the fingerprint) are those of a plain ``string``."""
    off = mapping_from_dict({**BASE, "attributes": {
        "ua": {"type": "string", "featurize": False}, "result": {"featurize": False},
        "note": {"type": "string"}, "rating": "float"}})
    assert off.attributes == {"ua": "string", "result": "string", "note": "string",
                              "rating": "float"}
    assert off.not_featurized == ("ua", "result")
    plain = mapping_from_dict({**BASE, "attributes": {"ua": "string", "result": "string",
                                                      "note": "string", "rating": "float"}})
    assert plain.not_featurized == ()
    assert off.fingerprint() == plain.fingerprint()


@pytest.mark.parametrize(("spec", "match"), [
    ({"type": "float", "featurize": False}, "featurize: false applies to string attributes"),
    ({"featurize": "no"}, "featurize must be true or false"),
    ({"type": "string", "mean": True}, "unknown key attributes.ua.mean"),
    ({"type": "text"}, "type 'text' is not one of"),
])
def test_bad_featurize_specs_are_refused_naming_the_attribute(spec, match):
    with pytest.raises(MappingError, match=match):
        mapping_from_dict({**BASE, "attributes": {"ua": spec}})


def test_featurize_false_in_one_source_holds_for_the_attribute():
    logins = {"files": "logins*.csv", "columns": {"account_id": "u", "ts": "t"},
              "constants": {"event_type": "login"},
              "attributes": {"ua": {"featurize": False}}}
    api = {"files": "api*.csv", "columns": {"account_id": "u", "ts": "t"},
           "constants": {"event_type": "call"}, "attributes": {"ua": "string"}}
    mapping = mapping_from_dict({"sources": {"logins": logins, "api": api}})
    assert mapping.attributes == {"ua": "string"}
    assert mapping.not_featurized == ("ua",)
