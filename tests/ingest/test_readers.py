import gzip

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.readers import (
    MALFORMED_JSON,
    WRONG_COLUMN_COUNT,
    InputError,
    file_checksum,
    file_format,
    iter_chunks,
    resolve_inputs,
    source_columns,
)
from tests.ingest.helpers import HEADER, ROWS, write_csv


def _read(path, columns, **kwargs):
    chunks = list(iter_chunks(path, columns, **kwargs))
    table = pa.concat_tables(c.table for c in chunks)
    lines = pa.concat_arrays([c.lines for c in chunks]).to_pylist()
    return chunks, table, lines


@pytest.mark.parametrize("name", ["logs.csv", "logs.csv.gz"])
def test_csv_plain_and_gzip_read_as_strings_with_line_numbers(tmp_path, name):
    path = write_csv(tmp_path / name, ROWS)
    assert source_columns(path) == HEADER.split(",")
    _, table, lines = _read(path, ["uid", "amt"])
    assert table.column_names == ["uid", "amt"]
    assert table.schema.field("amt").type == pa.string()
    assert table.column("amt").to_pylist() == ["", "10.5", "7", "3"]
    assert lines == [2, 3, 4, 5]


def test_tsv_and_headerless_csv(tmp_path):
    tsv = tmp_path / "logs.tsv"
    tsv.write_text("uid\twhen\na\t1\nb\t2\n")
    assert source_columns(tsv) == ["uid", "when"]
    _, table, lines = _read(tsv, ["when"])
    assert table.column("when").to_pylist() == ["1", "2"] and lines == [2, 3]
    bare = write_csv(tmp_path / "bare.csv", ["x,1", "y,2"], header=None)
    assert source_columns(bare, header=["uid", "when"]) == ["uid", "when"]
    _, table, lines = _read(bare, ["uid"], header=["uid", "when"])
    assert table.column("uid").to_pylist() == ["x", "y"] and lines == [1, 2]


def test_csv_streams_in_bounded_chunks_with_continuous_line_numbers(tmp_path):
    rows = [f"u{i},2024-01-01,login,{i},,,,," for i in range(3000)]
    path = write_csv(tmp_path / "big.csv", rows)
    chunks, table, lines = _read(path, ["uid"], block_bytes=4096)
    assert len(chunks) > 5
    assert max(c.table.num_rows for c in chunks) < 3000
    assert lines == list(range(2, 3002))
    assert table.column("uid").to_pylist()[-1] == "u2999"


@pytest.mark.parametrize("block_bytes", [100, 1 << 20])
@pytest.mark.parametrize("header", [HEADER, None])
def test_csv_rows_with_the_wrong_number_of_fields_come_out_as_errors(tmp_path, block_bytes,
                                                                     header):
    rows = [ROWS[0], "b1,2024-01-01", ROWS[1], ROWS[2] + ",x,y", ROWS[3], "c9"]
    path = write_csv(tmp_path / "logs.csv", rows, header=header)
    names = HEADER.split(",") if header is None else None
    chunks, table, lines = _read(path, ["uid", "when"], block_bytes=block_bytes, header=names)
    first = 2 if header else 1
    by_line = dict(zip(lines, zip(table.column("uid").to_pylist(),
                                  table.column("when").to_pylist(), strict=True), strict=True))
    assert sorted(by_line) == [first + i for i in range(6)]
    assert by_line[first + 1] == ("b1", "2024-01-01") and by_line[first + 5] == ("c9", None)
    assert by_line[first + 2] == ("a1", "2024-01-01T10:05:00Z")
    errors = {line: e for c in chunks for line, e in zip(
        c.lines.to_pylist(), (c.errors or pa.nulls(len(c.lines))).to_pylist(), strict=True)}
    assert {line for line, e in errors.items() if e == WRONG_COLUMN_COUNT} == \
        {first + 1, first + 3, first + 5}


def test_parquet_keeps_stored_types_and_numbers_rows(tmp_path):
    path = tmp_path / "logs.parquet"
    pq.write_table(pa.table({"uid": ["a", "b", "c"], "amt": [1.0, 2.0, None], "x": [1, 2, 3]}),
                   path)
    assert source_columns(path) == ["uid", "amt", "x"]
    chunks, table, lines = _read(path, ["uid", "amt"], batch_rows=2)
    assert len(chunks) == 2
    assert table.schema.field("amt").type == pa.float64()
    assert lines == [1, 2, 3]


def test_json_lines_extract_text_and_flag_malformed_lines(tmp_path):
    path = tmp_path / "logs.jsonl"
    path.write_text(
        '{"uid": "a", "amt": 1.5, "extra": true}\n'
        "\n"
        '{"uid": 7, "amt": "x"}\n'
        "not json\n"
        '["a", "list"]\n'
        '{"uid": "d"}\n'
    )
    assert source_columns(path) == ["amt", "extra", "uid"]
    chunks, table, lines = _read(path, ["uid", "amt"])
    assert lines == [1, 3, 4, 5, 6]
    assert table.column("uid").to_pylist() == ["a", "7", None, None, "d"]
    assert table.column("amt").to_pylist() == ["1.5", "x", None, None, None]
    errors = pa.concat_arrays([c.errors for c in chunks]).to_pylist()
    assert errors == [None, None, MALFORMED_JSON, MALFORMED_JSON, None]


def test_nested_json_fields_are_named_by_their_dotted_path(tmp_path):
    # an API export: {"user": {"id": ...}, "client": {"geo": {"ip": ...}}}
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"user": {"id": "u1"}, "client": {"geo": {"ip": "1.2.3.4"}}, "a.b": "flat"}\n'
        '{"user": {"id": 7}, "client": {}}\n'
        '{"user": "plain"}\n'
    )
    assert source_columns(path) == ["a.b", "client", "client.geo", "client.geo.ip", "user",
                                    "user.id"]
    _, table, _ = _read(path, ["user.id", "client.geo.ip", "a.b"])
    assert table.column("user.id").to_pylist() == ["u1", "7", None]
    assert table.column("client.geo.ip").to_pylist() == ["1.2.3.4", None, None]
    assert table.column("a.b").to_pylist() == ["flat", None, None]


def test_resolve_inputs_files_directories_and_globs(tmp_path):
    a = write_csv(tmp_path / "logs" / "2024-01-01.csv", ROWS)
    b = write_csv(tmp_path / "logs" / "sub" / "2024-01-02.csv.gz", ROWS)
    write_csv(tmp_path / "logs" / ".hidden.csv", ROWS)
    write_csv(tmp_path / "logs" / "_state" / "x.csv", ROWS)
    (tmp_path / "logs" / "README.md").write_text("not a log")
    assert resolve_inputs([tmp_path / "logs"]) == [a, b]
    assert resolve_inputs([str(tmp_path / "logs" / "*.csv")]) == [a]
    assert resolve_inputs([a, str(tmp_path / "logs" / "**" / "2024-*.csv*")]) == [a, b]
    with pytest.raises(InputError, match="matches no file"):
        resolve_inputs([tmp_path / "missing.csv"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no log files"):
        resolve_inputs([tmp_path / "empty"])


def test_unknown_suffix_and_unreadable_files_are_input_errors(tmp_path):
    binary = tmp_path / "logs.xlsx"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(InputError, match="unknown file type"):
        file_format(binary)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"this is not parquet")
    with pytest.raises(InputError, match="cannot read"):
        source_columns(broken)


def test_a_file_named_without_a_known_suffix_is_told_by_its_content(tmp_path):
    # YelpChi ships 'metadata.gz': space-separated text, gzip, no format suffix
    text = tmp_path / "metadata.gz"
    with gzip.open(text, "wt") as fh:
        fh.write("201 0 None 1 None\n202 0 None -1 None\n")
    assert file_format(text) == "csv"
    _, table, lines = _read(text, ["user", "label"], header=["user", "product", "rating",
                                                             "label", "date"], delimiter=" ")
    assert table.column("label").to_pylist() == ["1", "-1"]
    assert lines == [1, 2]
    jsonl = tmp_path / "export"
    jsonl.write_text('{"uid": "a"}\n')
    assert file_format(jsonl) == "jsonl"
    parquet = tmp_path / "dump.bin"
    pq.write_table(pa.table({"uid": ["a"]}), parquet)
    assert file_format(parquet) == "parquet"
    assert source_columns(parquet) == ["uid"]
    bom = tmp_path / "windows-export"
    bom.write_bytes(b'\xef\xbb\xbf{"uid": "a", "when": 1}\n{"uid": "b", "when": 2}\n')
    assert file_format(bom) == "jsonl"
    assert source_columns(bom) == ["uid", "when"]
    assert _read(bom, ["uid"])[1].column("uid").to_pylist() == ["a", "b"]
    # a directory search still picks files by their suffix only
    with pytest.raises(InputError, match="holds no log files"):
        resolve_inputs([tmp_path])


@pytest.mark.parametrize("text", [
    '[{"uid": "a", "n": {"x": 1}}, 3, {"uid": "b"}]',
    '\ufeff[\n  {\n    "uid": "a", "n": {"x": 1}\n  },\n  3,\n  {"uid": "b"}\n]\n'])
def test_a_json_array_is_read_element_by_element(tmp_path, text):
    # the commonest JSON export: one array, on one line or pretty-printed (with a BOM here)
    path = tmp_path / "export.json"
    path.write_text(text)
    assert source_columns(path) == ["n", "n.x", "uid"]
    chunks, table, lines = _read(path, ["uid", "n.x"])
    assert table.column("uid").to_pylist() == ["a", None, "b"]
    assert table.column("n.x").to_pylist() == ["1", None, None]
    assert lines == [1, 2, 3]
    errors = pa.concat_arrays([c.errors for c in chunks]).to_pylist()
    assert errors == [None, MALFORMED_JSON, None]


def test_a_header_naming_a_column_twice_is_an_input_error_naming_it(tmp_path):
    src = tmp_path / "d.csv"
    src.write_text("uid,when,dev,dev\na1,2024-01-01T10:00:00Z,d1,d2\n")
    with pytest.raises(InputError, match=r"names column 'dev' more than once \(columns 3, 4\)"):
        source_columns(src)


@pytest.mark.parametrize(("encoding", "said"), [
    ("utf-16", "is UTF-16 text"), ("cp1252", "is not UTF-8 text in its header")])
def test_a_header_that_is_not_utf8_says_how_to_convert_the_file(tmp_path, encoding, said):
    src = tmp_path / "d.csv"
    src.write_bytes("Kundennr,Zeit,Gerät\nk1,2024-01-01T10:00:00Z,d1\n".encode(encoding))
    with pytest.raises(InputError) as err:
        source_columns(src)
    assert said in str(err.value) and "iconv -f" in str(err.value)


def test_checksum_depends_on_content_not_name(tmp_path):
    a = write_csv(tmp_path / "a.csv", ROWS)
    b = write_csv(tmp_path / "b.csv", ROWS)
    c = write_csv(tmp_path / "c.csv", ROWS[:2])
    assert file_checksum(a) == file_checksum(b) != file_checksum(c)
