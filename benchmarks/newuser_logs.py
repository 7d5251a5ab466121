"""A new user's logs: four schemas nobody here wrote, each with the mapping the README leads to.

The project is judged on held-out logs in other schemas; these worlds keep, in the repo, what a
user with only the README meets when bringing such logs to ``abusenet ingest`` / ``abusenet
run`` (session 31, hnewuser; session 21's were lost with /tmp). Each world is a folder with its
log file(s), its labels file(s) and ``mapping.yaml``, written as a user would write it from the
README and ARCHITECTURE.md alone:

* ``otc_ratings``: Bitcoin-OTC (``../shared/datasets/bitcoin-otc``) re-exported as a ratings log
  with its own column names (``rater,ratee,trust,created_utc``: epoch seconds with fractions,
  signed ratings -10..10) and REV2's verdicts per account as words (``scammer`` / ``trusted``).
* ``yelp_reviews``: YelpChi (``../shared/datasets/yelpchi-reviews``) as JSON lines of reviews
  whose only entity is the restaurant (``{"review": "r17", "author": {"id": ...}, "business":
  ...}``), with ISO times in several zone offsets (made up: the copy has none) and Yelp's
  filter as a label per review for half of them (``filtered`` / ``recommended``).
* ``logins``: a made-up login log (TSV, gzip): session, account, client IP, device hash, user
  agent, time in epoch milliseconds, ``outcome`` (``OK`` / ``BAD_PASSWORD`` / ``LOCKED``) and a
  per-event ``is_fraud`` column in the log itself (read again as the event labels file);
  ordinary users behind a few carrier NAT IPs, one takeover crew trying many victims through
  3 proxies with one scripted user agent.
* ``orders``: a made-up marketplace order log as a European spreadsheet exports it (``;``
  separated, amounts with a comma as the decimal mark and ``.`` for thousands, a ``currency``
  column, ``dd.mm.yyyy HH:MM`` local times in Berlin), with odd ids: quoted ids holding the
  delimiter, unicode, a 300-character id, empty strings, ``NULL`` and ``nan``; labels per entity
  (stolen cards) and, partial, per account (a chargeback list that names abusers only).

``python -m benchmarks.newuser_logs --out DIR [--ingest]`` writes the worlds (``--small`` for a
few hundred rows each) and, with ``--ingest``, runs ``abusenet ingest`` on each as the README
says, printing what the user sees. The real-data worlds need ``../shared/datasets``; without
it they are skipped. ``tests/benchmarks/test_newuser_logs.py`` ingests the small worlds and
checks what a user sees.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import numpy as np

#: The project root and the shared datasets beside it.
ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
WORLDS = ("otc_ratings", "yelp_reviews", "logins", "orders")
#: Rows a ``--small`` world keeps (the real-data ones: their first rows).
SMALL_ROWS = 400


@dataclass
class NewUserWorld:
    """One world as written: its folder, the ``abusenet ingest`` / ``run`` arguments a user
    passes (inputs, mapping, labels options), and what was planted."""

    name: str
    folder: Path
    inputs: list[Path]
    mapping: Path
    labels: dict[str, Path] = field(default_factory=dict)
    notes: dict[str, object] = field(default_factory=dict)

    def args(self, out: Path, *, labels: bool = False) -> list[str]:
        """Command-line arguments after the command name: ``-i ... -m ... -o OUT`` and, with
        ``labels``, every labels option (``ingest`` takes ``--labels`` only; ``run`` all)."""
        argv = [a for path in self.inputs for a in ("-i", str(path))]
        argv += ["-m", str(self.mapping), "-o", str(out)]
        if labels:
            for option, path in self.labels.items():
                argv += [option, str(path)]
        return argv


def _write_csv(path: Path, header: list[str], rows: list[list[object]], *,
               delimiter: str = ",") -> None:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        if header:
            writer.writerow(header)
        writer.writerows(rows)


def otc_ratings(folder: Path, *, rows: int | None = None) -> NewUserWorld:
    """Bitcoin-OTC as a ratings export with its own names; labels per account as words."""
    folder.mkdir(parents=True, exist_ok=True)
    source = DATASETS / "bitcoin-otc"
    with open(source / "otc_network.csv") as fh:
        ratings = [line.rstrip("\n").split(",") for line in islice(fh, rows) if line.strip()]
    _write_csv(folder / "ratings.csv", ["rater", "ratee", "trust", "created_utc"],
               [[src, dst, int(r), ts] for src, dst, r, ts in ratings])
    users = {u for src, dst, _, _ in ratings for u in (src, dst)}
    with open(source / "otc_gt.csv") as fh:
        truth = [line.strip().split(",") for line in fh if line.strip()]
    verdicts = [[u, "scammer" if v.strip() == "-1" else "trusted"] for u, v in truth if u in users]
    _write_csv(folder / "verdicts.csv", ["user", "verdict"], verdicts)
    (folder / "mapping.yaml").write_text(
        "# Bitcoin-OTC ratings export: who rated whom, how much they trust them (-10..10)\n"
        "columns:\n"
        "  account_id: rater\n"
        "  counterparty_id: ratee\n"
        "  ts: created_utc\n"
        "constants:\n"
        "  event_type: rating\n"
        "attributes:\n"
        "  trust: float\n"
        "labels:\n"
        "  account_id: user\n"
        "  label: verdict\n"
        "  values: {scammer: 1, trusted: 0}\n")
    return NewUserWorld("otc_ratings", folder, [folder / "ratings.csv"], folder / "mapping.yaml",
                        {"--labels": folder / "verdicts.csv"},
                        {"rows": len(ratings), "labelled": len(verdicts)})


#: Zone offsets the made-up review times carry (Yelp's Chicago summer and winter, a server in
#: UTC, and one in India).
_OFFSETS = ("-05:00", "-06:00", "Z", "+05:30")


def yelp_reviews(folder: Path, *, rows: int | None = None, seed: int = 0) -> NewUserWorld:
    """YelpChi as nested JSON lines, the restaurant the only entity, labels per review (half)."""
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(DATASETS / "yelpchi-reviews" / "metadata.gz", "rt") as fh:
        reviews = [line.split() for line in islice(fh, rows) if line.strip()]
    rng = np.random.default_rng(seed)
    start = datetime(2012, 1, 1, tzinfo=UTC)
    # the copy's rows come grouped by restaurant: times drawn at random, not in file order
    seconds = rng.integers(0, 3 * 365 * 86400, len(reviews))
    labels = []
    with open(folder / "reviews.jsonl", "w", encoding="utf-8") as fh:
        for i, (review, s) in enumerate(zip(reviews, seconds, strict=True)):
            user, product, _rating, label, _date = review
            offset = _OFFSETS[i % len(_OFFSETS)]
            when = start + timedelta(seconds=int(s))
            if offset == "Z":
                text = when.strftime("%Y-%m-%dT%H:%M:%SZ")
            else:
                sign = -1 if offset[0] == "-" else 1
                hours, minutes = map(int, offset[1:].split(":"))
                local = when + sign * timedelta(hours=hours, minutes=minutes)
                text = local.strftime("%Y-%m-%dT%H:%M:%S") + offset
            fh.write(json.dumps({"review": f"r{i}", "author": {"id": user, "elite": False},
                                 "business": f"biz-{product}", "posted": text}) + "\n")
            if rng.random() < 0.5:
                labels.append([f"r{i}", "filtered" if label == "-1" else "recommended"])
    _write_csv(folder / "review_labels.csv", ["review", "yelp_filter"], labels)
    (folder / "mapping.yaml").write_text(
        "# YelpChi reviews as JSON lines: the restaurant is the only thing reviewers share\n"
        "columns:\n"
        "  event_id: review\n"
        "  account_id: author.id\n"
        "  ts: posted\n"
        "constants:\n"
        "  event_type: review\n"
        "entities:\n"
        "  Restaurant: business\n"
        "event_labels:\n"
        "  event_id: review\n"
        "  label: yelp_filter\n"
        "  values: {filtered: 1, recommended: 0}\n")
    return NewUserWorld("yelp_reviews", folder, [folder / "reviews.jsonl"],
                        folder / "mapping.yaml", {"--event-labels": folder / "review_labels.csv"},
                        {"rows": len(reviews), "labelled": len(labels)})


#: Browser user agents of ordinary users, and the takeover crew's scripted one.
_AGENTS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0",
           "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Safari/604.1",
           "Mozilla/5.0 (Linux; Android 14) Chrome/119.0 Mobile")
_SCRIPT_AGENT = "python-requests/2.31.0"


def logins(folder: Path, *, users: int = 600, seed: int = 0) -> NewUserWorld:
    """A login log in epoch milliseconds with a per-event ``is_fraud`` column.

    ``users`` ordinary accounts log in 2-12 times each from their own device, through one of
    4 carrier NAT IPs or a home IP; a crew takes over ``users // 20`` of them: from 3 proxies
    with one scripted user agent and 4 devices, a failed password (``BAD_PASSWORD``), then
    ``OK``, each victim within two days. The crew's logins are ``is_fraud`` 1.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    start_ms = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp() * 1000)
    day_ms = 86_400_000
    nat = [f"100.64.{i}.1" for i in range(4)]
    rows = []
    for u in range(users):
        device = f"dev{rng.integers(1 << 40):x}"
        home = f"81.{u % 200}.{u // 200}.{rng.integers(1, 250)}"
        agent = _AGENTS[u % len(_AGENTS)]
        for _ in range(rng.integers(2, 13)):
            ip = nat[rng.integers(len(nat))] if rng.random() < 0.6 else home
            rows.append([f"u{u:05d}", ip, device, agent,
                         start_ms + int(rng.integers(0, 60 * day_ms)), "OK", 0])
    victims = rng.choice(users, users // 20, replace=False)
    proxies = [f"185.220.101.{i}" for i in (7, 8, 9)]
    crew_devices = [f"emu{i}" for i in range(4)]
    for v in victims:
        when = start_ms + 40 * day_ms + int(rng.integers(0, 2 * day_ms))
        ip, device = proxies[rng.integers(3)], crew_devices[rng.integers(4)]
        rows.append([f"u{v:05d}", ip, device, _SCRIPT_AGENT, when, "BAD_PASSWORD", 1])
        rows.append([f"u{v:05d}", ip, device, _SCRIPT_AGENT, when + 40_000, "OK", 1])
    rows.sort(key=lambda r: r[4])
    rows = [[f"s-{i:06d}", *r] for i, r in enumerate(rows)]
    # an ordinary user locked out after three tries, from home
    rows.append([f"s-{len(rows):06d}", "u00001", "81.1.0.9", "dev1", _AGENTS[1],
                 start_ms + 59 * day_ms, "LOCKED", 0])
    header = ["session_id", "acct", "client_ip", "device_hash", "ua", "ts_ms", "outcome",
              "is_fraud"]
    _write_csv(folder / "sessions.tsv.gz", header, rows, delimiter="\t")
    (folder / "mapping.yaml").write_text(
        "# Login sessions (TSV, gzip): times in epoch milliseconds, is_fraud per event\n"
        "columns:\n"
        "  event_id: session_id\n"
        "  account_id: acct\n"
        "  ip: client_ip\n"
        "  device_id: device_hash\n"
        "  ts: ts_ms\n"
        "constants:\n"
        "  event_type: login\n"
        "entities:\n"
        "  UserAgent: ua\n"
        "attributes:\n"
        "  outcome: {values: {ok: 0, bad_password: 1, locked: 1}, failed: [bad_password, locked]}\n"
        "event_labels:\n"
        "  event_id: session_id\n"
        "  label: is_fraud\n")
    return NewUserWorld("logins", folder, [folder / "sessions.tsv.gz"], folder / "mapping.yaml",
                        {"--event-labels": folder / "sessions.tsv.gz"},
                        {"rows": len(rows), "victims": sorted(f"u{v:05d}" for v in victims)})


#: Odd ids a spreadsheet export carries, and what each should become: ``None`` is no id.
ODD_IDS: dict[str, str | None] = {
    '"Müller; Hans"': "Müller; Hans",      # quoted, holding the delimiter
    "李小龙": "李小龙",                        # unicode
    "x" * 300: "x" * 300,                  # very long
    "": None,                              # empty
    "NULL": None,
    "nan": None,
    " padded ": "padded",                  # spaces around
}


def _euro(amount: float) -> str:
    """``1234.5`` as a German spreadsheet writes it: ``1.234,50``."""
    whole, cents = f"{amount:,.2f}".split(".")
    return whole.replace(",", ".") + "," + cents


def orders(folder: Path, *, buyers: int = 300, seed: int = 0) -> NewUserWorld:
    """A marketplace order export: ``;``-separated, comma decimals, currencies, odd ids.

    ``buyers`` honest buyers order 1-6 times from 20 sellers with a card and an address of their
    own (a household of 2-3 shares both); a ring of 6 buyers shares 2 stolen cards and one drop
    address. Labels: the 2 stolen cards and 1 honest card (entity labels) and a chargeback list
    naming 3 of the ring's buyers (account labels, constant 1).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    start = datetime(2026, 10, 1, 8, 0)
    currencies = ("EUR", "EUR", "EUR", "GBP", "JPY")
    lines = []
    n = 0

    def order(buyer: str, card: str, address: str, day: float) -> None:
        nonlocal n
        currency = currencies[rng.integers(len(currencies))]
        value = float(rng.lognormal(3.5, 1.0)) * (150 if currency == "JPY" else 1)
        when = start + timedelta(days=day)
        seller = f"shop{rng.integers(20):02d}"
        lines.append([f"A-{n:05d}", buyer, seller, card, address, _euro(value), currency,
                      when.strftime("%d.%m.%Y %H:%M")])
        n += 1

    for b in range(buyers):
        household = b // 3 if b % 7 == 0 else b
        for _ in range(rng.integers(1, 7)):
            order(f"buyer{b}", f"fp{household:04x}", f"{household} Hauptstr., Berlin",
                  float(rng.uniform(0, 60)))
    ring = [f"ring{i}" for i in range(6)]
    for i, buyer in enumerate(ring):
        for k in range(3):
            order(buyer, f"stolen{(i + k) % 2}", "Packstation 118, Berlin",
                  30 + float(rng.uniform(0, 3)))
    text = ["order_no;buyer;seller;card_fp;ship_to;amount;currency;placed_at"]
    for row in lines:
        text.append(";".join(f'"{v}"' if ";" in v else v for v in row))
    for k, odd in enumerate(ODD_IDS):  # each odd id as a buyer's, and as a card's
        text.append(f"B-{k:03d};{odd};shop00;fpodd{k};Odd {k}, Berlin;12,00;EUR;"
                    "01.11.2026 10:00")
        text.append(f"C-{k:03d};oddcard{k};shop00;{odd};Odd {k}, Berlin;12,00;EUR;"
                    "01.11.2026 11:00")
    (folder / "orders.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    _write_csv(folder / "cards.csv", ["card", "status"],
               [["stolen0", "stolen"], ["stolen1", "stolen"], ["fp0001", "ok"]])
    _write_csv(folder / "chargebacks.csv", ["customer"], [[b] for b in ring[:3]])
    (folder / "mapping.yaml").write_text(
        "# Marketplace orders as a German spreadsheet exports them\n"
        "delimiter: \";\"\n"
        "timestamp_format: \"%d.%m.%Y %H:%M\"\n"
        "timezone: Europe/Berlin\n"
        "decimal_mark: \",\"\n"
        "columns:\n"
        "  event_id: order_no\n"
        "  account_id: buyer\n"
        "  payment_id: card_fp\n"
        "  amount: amount\n"
        "  ts: placed_at\n"
        "constants:\n"
        "  event_type: order\n"
        "entities:\n"
        "  Seller: seller\n"
        "  Address: {column: ship_to, relation: SHIPS_TO}\n"
        "attributes:\n"
        "  currency: string\n"
        "labels:\n"
        "  account_id: customer\n"
        "  constants: {label: 1}\n"
        "entity_labels:\n"
        "  entity_id: card\n"
        "  label: status\n"
        "  values: {stolen: 1, ok: 0}\n"
        "  constants: {node_type: PaymentMethod}\n")
    return NewUserWorld("orders", folder, [folder / "orders.csv"], folder / "mapping.yaml",
                        {"--labels": folder / "chargebacks.csv",
                         "--entity-labels": folder / "cards.csv"},
                        {"rows": len(lines) + 2 * len(ODD_IDS), "ring": ring})


def write_worlds(out: Path, *, small: bool = False, names: tuple[str, ...] = WORLDS
                 ) -> list[NewUserWorld]:
    """Write the named worlds under ``out/<name>`` (``small``: a few hundred rows each); the
    real-data ones are skipped when ``../shared/datasets`` is missing."""
    rows = SMALL_ROWS if small else None
    worlds = []
    for name in names:
        if name in ("otc_ratings", "yelp_reviews") and not DATASETS.is_dir():
            continue
        folder = out / name
        if name == "otc_ratings":
            worlds.append(otc_ratings(folder, rows=rows))
        elif name == "yelp_reviews":
            worlds.append(yelp_reviews(folder, rows=rows))
        elif name == "logins":
            worlds.append(logins(folder, users=60 if small else 600))
        else:
            worlds.append(orders(folder, buyers=40 if small else 300))
    return worlds


def main(argv: list[str] | None = None) -> None:
    """Write the worlds and, with ``--ingest``, run ``abusenet ingest`` on each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--worlds", nargs="+", default=list(WORLDS), choices=WORLDS)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--ingest", action="store_true",
                        help="run `abusenet ingest` on each world and print what it says")
    args = parser.parse_args(argv)
    for world in write_worlds(args.out, small=args.small, names=tuple(args.worlds)):
        print(f"== {world.name}: {world.folder} {world.notes.get('rows')} rows")
        if args.ingest:
            labels = {k: v for k, v in world.labels.items() if k == "--labels"}
            cmd = [sys.executable, "-m", "abusenet", "ingest",
                   *NewUserWorld(world.name, world.folder, world.inputs, world.mapping,
                                 labels).args(args.out / f"{world.name}-out", labels=True)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            print(done.stdout + done.stderr + f"(exit {done.returncode})")


if __name__ == "__main__":
    main()
