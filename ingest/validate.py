"""Row-level validation and mapping of source chunks to canonical events, in one DuckDB query.

Chunks from :mod:`ingest.readers` go through one vectorised SQL statement that renames and
types the columns (timestamps: ISO-8601, epoch seconds, milli-, micro- or nanoseconds, or the
mapping's ``timestamp_format``; IPs: dotted or, for IPv4 exported as a number such as
``732758368``, that number read as the address ``43.173.1.96``), derives ``event_id`` from
the row's content when the logs have none, and names the first problem of each bad row in
``_reason``:

=====================  ==========================================================
reason                 meaning
=====================  ==========================================================
``unparseable ts``     the timestamp is empty or matches no supported form
``ambiguous ts``       without ``timestamp_format``, a date whose year is not its
                       first four digits (``1/1/15``): DuckDB would read it as the
                       year 1, so the mapping must say the format
``ts is epoch 0``      exactly 1970-01-01 00:00 UTC (``0``), what exports write
                       for a missing time (AMLSim's ``open_dt``)
``ts before <min>``    earlier than the mapping's ``timestamps.min`` (default
                       1970-01-01)
``ts in the future``   later than the run's start plus ``timestamps.max_future``
                       (default one day)
``line past            with ``timestamps: {missing: row_order}`` (times from line
row_order's            numbers, an hour apart, bounds unchecked): a line past the
2,000,000``            2,000,000th of its file
``empty account_id``   the acting account is empty
``empty event_type``   the event type is empty
``non-numeric amount`` the amount is not a finite number
``malformed ip``       the IP is neither IPv4, IPv6 nor a number below 2**32
``<column> holds a     an id column (``account_id``, ``device_id``, ...,
list, not one id``     an entity's) holds a list (``["d1", "d2"]``, ``[d1, d2]``):
                       several ids, never one (an empty ``[]`` or ``{}`` is a
                       missing id, a bare ``[bot]`` an id)
``non-numeric <attr>`` a ``float`` attribute is not a finite number
``<attr>: '<text>'     an attribute mapped by ``{values: {text: number}}`` holds a
not in values:``       text the map lacks (matched trimmed, ignoring case; the
                       words for a missing value stay null)
``malformed JSON``     a JSON line is not a JSON object
``wrong number of      a CSV row has more or fewer fields than the header
columns``
``unreadable CSV row   DuckDB's CSV reader rejected the row (invalid UTF-8, an
(<error>)``            unterminated quote, ...)
=====================  ==========================================================

Schema-level problems (a mapped column missing from a file) are found earlier, by
:func:`ingest.mapping.check_source_columns`, before any row is read.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from ingest.mapping import EPOCH_FORMATS, ROW_ORDER_STEP_S, Mapping
from ingest.readers import Chunk
from ingest.sql import ident, literal

REASON_TS = "unparseable ts"
REASON_TS_AMBIGUOUS = "ambiguous ts"
REASON_TS_FUTURE = "ts in the future"
REASON_TS_ZERO = "ts is epoch 0"
#: How much of a text missing from an attribute's ``values:`` its quarantine reason quotes.
UNKNOWN_VALUE_CHARS = 40
_NOT_IN_VALUES = "' not in values:"
#: With ``timestamps: {missing: row_order}``: a line past :data:`ROW_ORDER_MAX_LINES`, whose
#: time (its line number in hours) would pass the year 2200.
REASON_ROW_ORDER = "line past row_order's 2,000,000"
ROW_ORDER_MAX_LINES = 2_000_000
REASON_ACCOUNT = "empty account_id"
REASON_EVENT_TYPE = "empty event_type"
REASON_AMOUNT = "non-numeric amount"
REASON_IP = "malformed ip"

#: Words exports write for a missing value (any case): an id column holding one is empty, never
#: the id of one shared device, card or account that links everyone whose value is missing.
#: ``[deleted]`` / ``[removed]``: Reddit's authors gone (a missing author, never one account
#: tying every deleted author together).
NULL_TOKENS = ("none", "null", "nan", "n/a", "nil", "undefined", "unknown", "-", "[]", "{}",
               "[deleted]", "[removed]")
#: An id that is a list (``["d1", "d2"]`` from JSON, ``['d1', 'd2']`` from pandas, ``[d1, d2]``):
#: quoted items or a comma between brackets; several ids, never one, so its row is
#: quarantined (:data:`REASON_LIST`). A bare ``[x]`` is no list (an id such as ``[bot]``);
#: an empty one (``[]``) is a missing id (:data:`NULL_TOKENS`); a JSON object is kept as its
#: text (map one of its fields by its dotted path, ``device.id``, to read that instead).
LIST_PATTERN = r"""\[\s*(["'].*["']|[^,\]]*,.*)\s*\]"""
#: The reason of a row whose id column holds a list: ``device_id holds a list, not one id``.
REASON_LIST = " holds a list, not one id"
#: The least number read as an IPv4 address (:func:`ipv4_from_number`): ``1.0.0.0``.
IPV4_NUMBER_MIN = 1 << 24
#: Unspecified IP addresses: a missing IP, never a shared one.
NULL_IPS = ("0.0.0.0", "::")
#: Canonical string columns besides the required ones, in event-table order.
_OPTIONAL_IDS = ("device_id", "ip", "payment_id", "counterparty_id")
#: Epoch values at or above this are taken as milliseconds (1e11 s is the year 5138).
EPOCH_MS_FROM = 1e11
#: ... as microseconds (1e14 ms is the year 5138; 1e14 us is 1973-03-03).
EPOCH_US_FROM = 1e14
#: ... as nanoseconds (1e17 us is the year 5138; 1e17 ns is 1973-03-03).
EPOCH_NS_FROM = 1e17
_EPOCH_MAX = 1e20
EPOCH_ZERO = datetime(1970, 1, 1, tzinfo=UTC)
#: A whole number that reads as a ``%Y%m%d`` date (``20250301``): a ts column of them, without a
#: ``timestamp_format``, stops the ingest (:meth:`ingest.plan.IngestPlan.check_columns`) rather
#: than being read as epoch seconds in 1970.
COMPACT_DATE_PATTERN = "^(1[89]|2[0-9])[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])$"

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}"
_H = "[0-9a-f]{1,4}"
_IPV6 = "|".join(
    [
        f"({_H}:){{7}}{_H}",
        f"({_H}:){{1,7}}:",
        f"({_H}:){{1,6}}:{_H}",
        f"({_H}:){{1,5}}(:{_H}){{1,2}}",
        f"({_H}:){{1,4}}(:{_H}){{1,3}}",
        f"({_H}:){{1,3}}(:{_H}){{1,4}}",
        f"({_H}:){{1,2}}(:{_H}){{1,5}}",
        f"{_H}:(:{_H}){{1,6}}",
        f":((:{_H}){{1,7}}|:)",
        f"::(ffff(:0{{1,4}})?:)?{_IPV4}",
        f"({_H}:){{1,4}}:{_IPV4}",
    ]
)
IP_PATTERN = f"(?i)({_IPV4}|{_IPV6})"
#: A number written with a decimal comma (``decimal_mark: ","``): an optional sign, digits
#: (grouped in thousands by ``.`` or not at all), then optionally ``,`` and the decimals.
COMMA_DECIMAL_PATTERN = r"[+-]?([0-9]{1,3}(\.[0-9]{3})+|[0-9]+)(,[0-9]+)?"
#: A timestamp text that says its own zone: ``Z``, an offset (``+05:30``, ``-0700``, ``+09``) or
#: a zone name or abbreviation (``UTC``, ``PST``, ``Europe/Berlin``) at its end.
ZONED_PATTERN = (r"(?i)([0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*(z|[+-][0-9]{2}(:?[0-9]{2})?)"
                 r"|\s[a-z][a-z_/+-]*)$")
#: A timestamp text that starts with a four-digit year (ISO-8601 and the like).
YEAR_FIRST_PATTERN = "^[0-9]{4}[^0-9]"
#: Common ``strftime`` formats tried on failing timestamps to suggest a ``timestamp_format``.
COMMON_FORMATS = (
    "%m/%d/%y %H:%M", "%d/%m/%y %H:%M", "%m/%d/%y %H:%M:%S", "%d/%m/%y %H:%M:%S",
    "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%y", "%d/%m/%y", "%m/%d/%Y",
    "%d/%m/%Y", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d.%m.%y",
    "%d-%m-%Y %H:%M:%S", "%m-%d-%Y %H:%M:%S", "%d-%m-%Y", "%m-%d-%Y", "%d-%m-%y", "%m-%d-%y",
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y%m%d%H%M%S", "%Y%m%d",
    "%d %b %Y %H:%M:%S", "%b %d %Y %H:%M:%S",
    "%d %b %Y", "%b %d, %Y", "%d/%b/%Y:%H:%M:%S %z", "%a %b %d %H:%M:%S %Y",
    "%a, %d %b %Y %H:%M:%S %Z", "%a, %d %b %Y %H:%M:%S %z",  # RFC 2822: HTTP and mail logs
)


def event_schema(mapping: Mapping) -> pa.Schema:
    """The Arrow schema of the canonical events ``mapping`` produces."""
    fields = [
        pa.field("event_id", pa.string()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("account_id", pa.string()),
        pa.field("event_type", pa.string()),
        *(pa.field(c, pa.string()) for c in _OPTIONAL_IDS),
        pa.field("amount", pa.float64()),
        *(pa.field(e.event_column, pa.string()) for e in mapping.entities),
        *(
            pa.field(a, pa.float64() if kind == "float" else pa.string())
            for a, kind in mapping.attributes.items()
        ),
    ]
    return pa.schema(fields)


def transform_sql(
    mapping: Mapping, source: pa.Schema, *, table: str = "chunk", keep_raw: bool = False,
    now: datetime | None = None, events: Mapping | None = None, id_prefix: str = "",
) -> str:
    """The SQL mapping a registered chunk view ``table`` to canonical events plus ``_reason``.

    Parameters
    ----------
    mapping
        The mapping to apply.
    source
        Arrow schema of the chunk's source columns (types decide how timestamps and numbers
        are parsed).
    table
        The view or table to read: source columns, ``_line`` and ``_error``.
    keep_raw
        Also return ``_raw``: the original text of ``mapping.source_columns()`` as one list
        for bad rows (null for good rows, so good rows cost one null), for the quarantine.
    now
        The run's start (default: now): events later than it plus the mapping's
        ``ts_max_future`` are quarantined.
    events
        The mapping whose :func:`event_schema` the query returns (default ``mapping``): with
        ``sources:``, the union, whose entity and attribute columns ``mapping`` (one source)
        lacks are null.
    id_prefix
        Put before every ``event_id`` (a source's ``<name>:``).

    Returns
    -------
    str
        A query returning the columns of :func:`event_schema` (of ``events``), then ``_reason``
        (null for a good row), ``_line`` and, with ``keep_raw``, ``_raw``.
    """
    def col(name: str) -> str:
        if name in mapping.columns:
            return _text(ident(mapping.columns[name]), source.field(mapping.columns[name]).type)
        if name in mapping.constants:
            return _text(literal(mapping.constants[name]), pa.string())
        return "CAST(NULL AS VARCHAR)"

    if mapping.row_order_times:
        ts = f"to_timestamp(CAST(_line AS DOUBLE) * {ROW_ORDER_STEP_S})"
        ts_source = "_line"
        ts_checks = [(f"_line > {ROW_ORDER_MAX_LINES}", literal(REASON_ROW_ORDER))]
    else:
        ts_source = mapping.columns["ts"]
        ts_type = source.field(ts_source).type
        ts = timestamp_expr(ident(ts_source), ts_type, mapping.timestamp_format,
                            mapping.timezone)
        ts_checks = _plausible_ts_checks(mapping, ts_type, now)
    amount, amount_bad = _number(mapping, "amount", source)
    inner = [
        f"{ts} AS ts",
        f"{ident(ts_source)} AS _ts_source",
        f"{col('account_id')} AS account_id",
        f"{col('event_type')} AS event_type",
        *(f"{_ip(col(c)) if c == 'ip' else col(c)} AS {c}" for c in _OPTIONAL_IDS),
        f"{amount} AS amount",
        f"{amount_bad} AS _bad_amount",
        f"{col('event_id')} AS _given_id",
        *(
            f"{_text(ident(e.source), source.field(e.source).type)} AS {ident(e.event_column)}"
            for e in mapping.entities
        ),
        "_line",
        "_error",
    ]
    raw = [f"_raw_{i}" for i in range(len(mapping.source_columns()))] if keep_raw else []
    inner += [
        f"CAST({ident(c)} AS VARCHAR) AS {r}"
        for c, r in zip(mapping.source_columns(), raw, strict=False)
    ]
    ids = ["account_id", "device_id", "payment_id", "counterparty_id", "_given_id",
           *(ident(e.event_column) for e in mapping.entities)]
    lists = [(f"regexp_full_match(coalesce({c}, ''), {literal(LIST_PATTERN)})",
              literal(("event_id" if c == "_given_id" else c.strip('"')) + REASON_LIST))
             for c in ids]
    checks = [
        ("_error IS NOT NULL", "_error"),
        ("ts IS NULL", literal(REASON_TS)),
        *ts_checks,
        *lists,
        ("account_id IS NULL", literal(REASON_ACCOUNT)),
        ("event_type IS NULL", literal(REASON_EVENT_TYPE)),
        ("_bad_amount", literal(REASON_AMOUNT)),
        (
            f"ip IS NOT NULL AND NOT regexp_full_match(ip, {literal(IP_PATTERN)})",
            literal(REASON_IP),
        ),
    ]
    attributes = []
    for name, kind in mapping.attributes.items():
        if name in mapping.attribute_values:
            value, unknown = _mapped(ident(name), source.field(name).type,
                                     mapping.attribute_values[name])
            flag = ident("_unknown_" + name)
            inner += [f"{value} AS {ident(name)}", f"{unknown} AS {flag}"]
            why = f"concat({literal(f'{name}: {chr(39)}')}, {flag}, {literal(_NOT_IN_VALUES)})"
            checks.append((f"{flag} IS NOT NULL", why))
        elif kind == "float":
            value, bad = _numeric(ident(name), source.field(name).type,
                                  mapping.decimal_mark or ".")
            inner += [f"{value} AS {ident(name)}", f"{bad} AS {ident('_bad_' + name)}"]
            checks.append((ident("_bad_" + name), literal(f"non-numeric {name}")))
        else:
            inner.append(f"{_text(ident(name), source.field(name).type)} AS {ident(name)}")
        attributes.append(ident(name))
    content = ["account_id", "CAST(epoch_us(ts) AS VARCHAR)", "event_type", *_OPTIONAL_IDS,
               "CAST(amount AS VARCHAR)", *(ident(e.event_column) for e in mapping.entities),
               *(f"CAST({a} AS VARCHAR)" for a in attributes)]
    digest = "md5(concat_ws(chr(31), " + ", ".join(
        f"coalesce({c}, chr(0))" for c in content
    ) + "))"
    reason = "CASE " + " ".join(f"WHEN {cond} THEN {why}" for cond, why in checks) + " END"
    events = events or mapping
    own = {e.event_column for e in mapping.entities} | set(mapping.attributes)
    extras = [(e.event_column, "VARCHAR") for e in events.entities]
    extras += [(a, "DOUBLE" if kind == "float" else "VARCHAR")
               for a, kind in events.attributes.items()]
    event_id = f"coalesce(_given_id, {digest})"
    middle = [
        f"{literal(id_prefix)} || {event_id} AS event_id" if id_prefix
        else f"{event_id} AS event_id",
        "ts", "account_id", "event_type", *_OPTIONAL_IDS, "amount",
        *(ident(c) if c in own else f"CAST(NULL AS {kind}) AS {ident(c)}" for c, kind in extras),
        f"{reason} AS _reason",
        "_line",
        *raw,
    ]
    sql = f"SELECT {', '.join(middle)} FROM (SELECT {', '.join(inner)} FROM {ident(table)})"
    if not raw:
        return sql
    keep = f"CASE WHEN _reason IS NOT NULL THEN [{', '.join(raw)}] END AS _raw"
    return f"SELECT * EXCLUDE ({', '.join(raw)}), {keep} FROM ({sql})"


def ts_before_reason(mapping: Mapping) -> str:
    """The quarantine reason of a time before the mapping's ``ts_min``: ``ts before 1970-01-01``."""
    lowest = mapping.ts_min
    text = lowest.date().isoformat() if lowest == lowest.replace(hour=0, minute=0, second=0,
                                                                 microsecond=0) else lowest
    return f"ts before {text}"


def ts_reasons(mapping: Mapping) -> tuple[str, ...]:
    """Every quarantine reason that blames the timestamp."""
    return (REASON_TS, REASON_TS_AMBIGUOUS, REASON_TS_ZERO, ts_before_reason(mapping),
            REASON_TS_FUTURE)


def _plausible_ts_checks(
    mapping: Mapping, kind: pa.DataType, now: datetime | None
) -> list[tuple[str, str]]:
    """(condition, reason) pairs for times outside the mapping's plausible range.

    DuckDB's cast reads ``1/1/15`` as the year 1 and a mapping's ``ts_min`` is never before
    the year 1000, so such misreads always fail the first check; only the reason (a bad row's
    cost) tells them from true early times: without a ``timestamp_format``, a text that is
    neither a number nor starts with a four-digit year is ``ambiguous ts``. Epoch 0 itself is a
    missing time, never an event's.
    """
    early = literal(ts_before_reason(mapping))
    checks: list[tuple[str, str]] = []
    text = "trim(CAST(_ts_source AS VARCHAR))"
    is_text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if mapping.timestamp_format is None and is_text:
        early = (f"CASE WHEN regexp_matches({text}, {literal(YEAR_FIRST_PATTERN)}) "
                 f"OR try_cast({text} AS DOUBLE) IS NOT NULL THEN {early} "
                 f"ELSE {literal(REASON_TS_AMBIGUOUS)} END")
    checks.append((f"ts = {_timestamptz(EPOCH_ZERO)}", literal(REASON_TS_ZERO)))
    checks.append((f"ts < {_timestamptz(mapping.ts_min)}", early))
    if mapping.ts_max_future is not None:
        latest = (now or datetime.now(UTC)) + mapping.ts_max_future
        checks.append((f"ts > {_timestamptz(latest)}", literal(REASON_TS_FUTURE)))
    return checks


def _timestamptz(value: datetime) -> str:
    return f"TIMESTAMPTZ {literal(value.astimezone(UTC).isoformat())}"


#: ``1.2.3.4:443`` (an IPv4 address and its port: load balancer and proxy logs).
_IPV4_PORT = r"([0-9]{1,3}(\.[0-9]{1,3}){3}):[0-9]{1,5}"
#: ``[2001:db8::1]:443`` or ``[::1]`` (an IPv6 address in brackets, with or without its port).
_IPV6_BRACKETS = r"\[([0-9a-f:.]+)\](:[0-9]{1,5})?"
#: ``::ffff:1.2.3.4``: an IPv4 client seen through an IPv6 socket.
_IPV4_MAPPED = r"::ffff:([0-9]{1,3}(\.[0-9]{1,3}){3})"


def _ip(text: str) -> str:
    """An IP column's text read as an address (:func:`ip_address`, :func:`ipv4_from_number`);
    null when unspecified (:data:`NULL_IPS`, or the number 0)."""
    unspecified = ", ".join(map(literal, (*NULL_IPS, "0")))
    return (f"CASE WHEN {text} IN ({unspecified}) THEN NULL WHEN strpos({text}, ':') > 0 "
            f"THEN {ip_address(text)} ELSE {ipv4_from_number(text)} END")


def ip_address(text: str) -> str:
    """SQL of the address a text with a ``:`` names, so that one client is one IP node: the
    port of ``1.2.3.4:443`` and the brackets (and port) of ``[2001:db8::1]:443`` dropped, IPv6
    in lower case (``2001:DB8::1`` is ``2001:db8::1``), and ``::ffff:1.2.3.4`` read as
    ``1.2.3.4``; null when what is left is unspecified (``[::]:80``)."""
    low = f"lower({text})"
    unspecified = ", ".join(map(literal, NULL_IPS))

    def part(pattern: str, source: str) -> str:
        return f"regexp_extract({source}, {literal('^' + pattern)}, 1)"

    address = (
        f"CASE WHEN regexp_full_match({text}, {literal(_IPV4_PORT)}) "
        f"THEN {part(_IPV4_PORT, text)} "
        f"WHEN regexp_full_match({low}, {literal(_IPV6_BRACKETS)}) "
        f"THEN {part(_IPV6_BRACKETS, low)} "
        f"WHEN regexp_full_match({low}, {literal(_IPV4_MAPPED)}) "
        f"THEN {part(_IPV4_MAPPED, low)} ELSE {low} END"
    )
    return f"CASE WHEN {address} IN ({unspecified}) THEN NULL ELSE {address} END"


def ipv4_from_number(expr: str) -> str:
    """SQL reading ``expr`` (trimmed text) as dotted IPv4 when it is a whole number from 2**24
    (``1.0.0.0``) to 2**32 - 1.

    Fraud datasets often export IPv4 addresses as integers (``732758368`` is ``43.173.1.96``);
    any other text is kept as it is (and validated as an address). A smaller number would be an
    address of ``0.0.0.0/8``, which no host sends from: a count, a port or a field shifted by
    an unquoted decimal comma (``1,5`` putting ``5`` in the IP column), so it stays a malformed
    IP rather than becoming ``0.0.0.5``.
    """
    n = f"CAST({expr} AS UBIGINT)"
    dotted = ", ".join(f"CAST(({n} >> {shift}) & 255 AS VARCHAR)" for shift in (24, 16, 8, 0))
    return (
        f"CASE WHEN strpos({expr}, '.') = 0 AND strpos({expr}, ':') = 0 "
        f"AND regexp_full_match({expr}, '[0-9]{{1,10}}') AND {n} < 4294967296 "
        f"AND {n} >= {IPV4_NUMBER_MIN} "
        f"THEN concat_ws('.', {dotted}) ELSE {expr} END"
    )


def format_counts(
    con: duckdb.DuckDBPyConnection, values: list[str], mapping: Mapping, now: datetime,
    formats: tuple[str, ...] = COMMON_FORMATS,
) -> dict[str, int]:
    """How many of ``values`` each of ``formats`` parses to a plausible time (the mapping's
    ``ts_min`` to ``now`` plus ``ts_max_future``); formats that parse none are left out."""
    if not values:
        return {}
    latest = now + mapping.ts_max_future if mapping.ts_max_future is not None else None
    counts = []
    for fmt in formats:
        t = f"CAST(try_strptime(trim(v), {literal(fmt)}) AS TIMESTAMPTZ)"
        upper = f" AND {t} <= {_timestamptz(latest)}" if latest is not None else ""
        counts.append(f"count(*) FILTER ({t} >= {_timestamptz(mapping.ts_min)}{upper})")
    row = con.execute(
        f"SELECT {', '.join(counts)} FROM unnest($values) AS v(v)", {"values": values}
    ).fetchall()[0]
    found = [(fmt, int(n)) for fmt, n in zip(formats, row, strict=True) if n]
    return dict(sorted(found, key=lambda item: -item[1]))


def transform_chunk(con: duckdb.DuckDBPyConnection, chunk: Chunk, sql: str) -> pa.Table:
    """Run :func:`transform_sql`'s query on ``chunk``; rows keep their order."""
    table = chunk.table.append_column("_line", chunk.lines)
    errors = chunk.errors if chunk.errors is not None else pa.nulls(len(table), pa.string())
    table = table.append_column("_error", errors)
    con.register("chunk", table)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.unregister("chunk")


def _text(expr: str, kind: pa.DataType) -> str:
    """A trimmed string from any source type; null when empty or a :data:`NULL_TOKENS` word."""
    if pa.types.is_floating(kind):
        # 12.0 -> '12': ids stored as floats (e.g. by pandas) must match their integer form.
        expr = (
            f"CASE WHEN isfinite({expr}) AND {expr} = trunc({expr}) AND abs({expr}) < 1e30 "
            f"THEN CAST(CAST({expr} AS HUGEINT) AS VARCHAR) ELSE CAST({expr} AS VARCHAR) END"
        )
        return f"NULLIF({expr}, '')"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = f"trim({expr})"
    else:
        text = f"trim(CAST({expr} AS VARCHAR))"
    longest = max(map(len, NULL_TOKENS))
    return (f"CASE WHEN length({text}) <= {longest} AND lower({text}) IN "
            f"({', '.join(map(literal, NULL_TOKENS))}) THEN NULL ELSE NULLIF({text}, '') END")


def _epoch(value: str, unit: float | None) -> str:
    """Epoch seconds, milli-, micro- or nanoseconds, hours or days (``unit``: how many a
    second, or ``None`` to tell seconds to nanoseconds by magnitude)."""
    if unit is None:
        seconds = (
            f"CASE WHEN abs({value}) >= {EPOCH_NS_FROM} THEN {value} / 1e9 "
            f"WHEN abs({value}) >= {EPOCH_US_FROM} THEN {value} / 1e6 "
            f"WHEN abs({value}) >= {EPOCH_MS_FROM} THEN {value} / 1000 ELSE {value} END"
        )
    elif unit < 1:  # hours or days (a simulation's step): whole seconds, no rounding error
        seconds = f"{value} * {round(1 / unit)}"
    else:
        seconds = f"{value} / {unit}"
    return (
        f"CASE WHEN isfinite({value}) AND abs({value}) < {_EPOCH_MAX} "
        f"THEN to_timestamp({seconds}) END"
    )


def timestamp_expr(expr: str, kind: pa.DataType, fmt: str | None, zone: str | None = None
                   ) -> str:
    """SQL turning ``expr`` (of Arrow type ``kind``) into a UTC ``TIMESTAMPTZ``, null if invalid.

    Stored timestamps and dates are taken as UTC when they carry no zone; numbers are epoch
    seconds, or milli-, micro- or nanoseconds from :data:`EPOCH_MS_FROM`, :data:`EPOCH_US_FROM`
    and :data:`EPOCH_NS_FROM` on; strings are parsed with ``fmt`` (a strftime pattern or one of
    :data:`EPOCH_FORMATS`), or else as a number or ISO-8601. ``zone`` (an IANA name): the zone
    of stored timestamps, dates and texts that carry none, instead of UTC (a text's own ``Z``,
    offset or zone name, and epoch numbers, are kept).
    """
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        if zone is None or (pa.types.is_timestamp(kind) and kind.tz is not None):
            return f"CAST({expr} AS TIMESTAMPTZ)"
        return _in_zone(f"CAST({expr} AS TIMESTAMP)", zone)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return _epoch(f"CAST({expr} AS DOUBLE)", EPOCH_FORMATS.get(fmt or ""))
    text = f"trim(CAST({expr} AS VARCHAR))"
    if fmt in EPOCH_FORMATS:
        return _epoch(f"try_cast({text} AS DOUBLE)", EPOCH_FORMATS[fmt])
    if fmt is not None:
        parsed = f"try_strptime({text}, {literal(fmt)})"
        if zone is None or "%z" in fmt or "%Z" in fmt:
            return f"CAST({parsed} AS TIMESTAMPTZ)"
        return _in_zone(parsed, zone)
    # ISO-8601 first: it is the common case, and a number never parses as a timestamp. CASE,
    # not coalesce: DuckDB evaluates every argument of coalesce on every row, and the epoch
    # fallback cost a third of the whole timestamp parse (3M rows: 1.28 vs 0.94 CPU s).
    iso = f"try_cast({text} AS TIMESTAMPTZ)"
    if zone is not None:
        local = _in_zone(f"try_cast({text} AS TIMESTAMP)", zone)
        iso = (f"CASE WHEN regexp_matches({text}, {literal(ZONED_PATTERN)}) THEN {iso} "
               f"ELSE {local} END")
    number = f"try_cast({text} AS DOUBLE)"
    return f"CASE WHEN {iso} IS NOT NULL THEN {iso} ELSE {_epoch(number, None)} END"


def _in_zone(naive: str, zone: str) -> str:
    """A naive ``TIMESTAMP`` read as the wall time of ``zone``, as a ``TIMESTAMPTZ``."""
    return f"timezone({literal(zone)}, {naive})"


def _numeric(expr: str, kind: pa.DataType, decimal_mark: str = ".") -> tuple[str, str]:
    """(value, is-bad flag) for a column that should hold finite numbers; empty is null.

    Booleans (stored, or the texts ``true`` / ``false``) are 1 and 0: a login log's ``success``
    flag is a numeric attribute, not a bad row. With ``decimal_mark`` ``,`` a text is a number
    written with a decimal comma (:data:`COMMA_DECIMAL_PATTERN`: ``1.234,56``, ``-0,5``,
    ``1234``), never read otherwise: ``1.5`` is no number there, rather than 15 or 1.5."""
    if pa.types.is_boolean(kind):
        return f"CAST({expr} AS DOUBLE)", "false"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        value = f"CAST({expr} AS DOUBLE)"
        return value, f"coalesce(NOT isfinite({value}), false)"
    text = f"NULLIF(trim(CAST({expr} AS VARCHAR)), '')"
    number = f"try_cast({text} AS DOUBLE)"
    if decimal_mark == ",":
        plain = f"replace(replace({text}, '.', ''), ',', '.')"
        number = (f"CASE WHEN regexp_full_match({text}, {literal(COMMA_DECIMAL_PATTERN)}) "
                  f"THEN try_cast({plain} AS DOUBLE) END")
    # CASE, not coalesce: DuckDB evaluates every argument of coalesce on every row
    value = (f"CASE WHEN {number} IS NOT NULL THEN {number} "
             f"WHEN lower({text}) = 'true' THEN 1.0 WHEN lower({text}) = 'false' THEN 0.0 END")
    bad = f"({text} IS NOT NULL AND coalesce(NOT isfinite({value}), true))"
    return f"CASE WHEN isfinite({value}) THEN {value} END", bad


def _mapped(expr: str, kind: pa.DataType, values: dict[str, float]) -> tuple[str, str]:
    """(number, unknown text) for an attribute mapped by ``values`` (lower-case text ->
    number): the trimmed text matched ignoring case; the text (its first
    :data:`UNKNOWN_VALUE_CHARS` characters) when the map lacks it, else null."""
    text = _text(expr, kind)
    cases = " ".join(f"WHEN {literal(word)} THEN {float(number)!r}"
                     for word, number in values.items())
    value = f"CAST(CASE lower({text}) {cases} END AS DOUBLE)"
    unknown = (f"CASE WHEN {text} IS NOT NULL AND {value} IS NULL "
               f"THEN left({text}, {UNKNOWN_VALUE_CHARS}) END")
    return value, unknown


def _number(mapping: Mapping, name: str, source: pa.Schema) -> tuple[str, str]:
    if name in mapping.columns:
        return _numeric(ident(mapping.columns[name]), source.field(mapping.columns[name]).type,
                        mapping.decimal_mark or ".")
    if name in mapping.constants:
        return f"CAST({literal(mapping.constants[name])} AS DOUBLE)", "false"
    return "CAST(NULL AS DOUBLE)", "false"
