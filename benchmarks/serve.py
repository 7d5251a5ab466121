"""Load `abusenet serve` on loopback: single events at a steady rate, then batches of 100.

Open loop: each single event is sent at its due time (``--rate`` per second, by a pool of
``--clients`` threads, each on its own kept-alive ``http.client`` connection), so a slow
answer does not slow the offered load; latency is counted from the due time (``*_ms``: what a
caller waits, queueing included) and from the send (``service_*_ms``; ``sent_late_*_ms``: how
late this generator sent it, its own share).
Bounded: ``--seconds`` of singles (at most ``--singles`` events), then ``--batches`` batches of
100 sent one after the other (``--batch-clients N``: by N threads, each sending its next once
answered), all encoded before the first is sent, so the batches' events/s is the service's, not
the event generator's (:func:`batch_phase`). Prints p50 / p95 / p99 (for singles also the p99 of
each 10 s of due times: a tail from the first seconds after a start shows there), the sustained
events/s, the service's time per phase and collector pauses during the singles (from its
``/metrics``; for the batches each phase's mean), with the mean events per applied group, its
RSS, CPU seconds and CPU milliseconds an event (singles, batches; for each also the event loop's
part: HTTP, JSON, validation) beside this generator's own (it shares the machine's cores), its
start-up seconds (with ``--start``), and beside them the batch `abusenet score` cost per event
of the run when it has one.

    python -m benchmarks.serve --run OUT --start [--rate 200] [--seconds 60] [--batches 20]
    python -m benchmarks.serve --world DIR --accounts 1000000 --start ...

``--world DIR --accounts N`` builds a serving world once and reuses it after: ``abusenet synth``
of N accounts, ``abusenet ingest`` (events and snapshot), ``abusenet train`` of the detector
(``--epochs``, default 1: speed does not depend on the model's quality), laid out as a batch
run in DIR/run (no rings file: ring context is then empty), and ``abusenet serve --prepare``
(the service's start caches, as a training run writes them); before each benchmark the
service's own segments of earlier benchmarks are removed from its event store.

With ``--run`` the segments services logged into the run's event store stay (they may be a real
service's), and a started service replays them: the same traffic as an earlier benchmark then
meets a service already warm on exactly the accounts it hits (session 16's 1M singles p99 of
39.5 ms was such a warm figure; cold it was 106-136 ms). The output says how many there were
(``service_segments``); ``--cold`` removes them first (only for a run that is a benchmark's own
copy).

``--in-process`` measures the apply path without HTTP (:func:`in_process`): the state the
service loads, groups of ``--sizes`` events (default one-event and 100-event groups, taken in
turn) applied in the writer's steps, CPU ms a group by phase (update / rescore / views, the
responses), optionally the calls each phase makes, and a digest of every response (the same
``--seed`` and code give the same digest: a change meant to keep the answers keeps it)::

    python -m benchmarks.serve --run OUT --in-process --cold [--model M] [--groups 200]
        [--warm 60] [--count-calls 5] [--dump responses.jsonl]

The events are logins and orders by the run's own accounts on their own devices and IPs (one in
ten on a new device), so each one reaches into the existing graph as real traffic would.
``--start`` launches ``abusenet serve --run OUT`` on a free port (token generated, the process
stopped at the end, ``--source DIR`` the code to run: another checkout for a before/after
comparison); otherwise the service must be running, with ``ABUSENET_API_TOKEN`` set here too
or ``--url`` / ``--token`` given, and ``--pid`` naming it for the RSS.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import secrets
import shlex
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa

#: Runs the abusenet command line.
CLI = ("from abusenet.cli import app; app()",)
#: Starts `serve` through its own Typer app (whether or not abusenet.cli lists it).
LAUNCH = ("import typer; from abusenet.commands.serve import register; app = typer.Typer(); "
          "app.callback()(lambda: None); register(app); app()")


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50 / p95 / p99 of ``seconds``, in milliseconds (``None`` without any)."""
    values = np.asarray(seconds) * 1000
    return {f"p{q}_ms": round(float(np.percentile(values, q)), 2) if len(values) else None
            for q in (50, 95, 99)}


class Traffic:
    """Events by the run's accounts on the devices and IPs they already use."""

    def __init__(self, run: Path, seed: int = 0) -> None:
        edges = run / ".work" / "snapshot" / "snapshot" / "edges"
        devices = pd.read_parquet(edges / "USED_DEVICE.parquet", columns=["src", "dst"])
        self.accounts = devices["src"].to_numpy(dtype=object)
        self.devices = devices["dst"].to_numpy(dtype=object)
        self.ip_values = pd.read_parquet(edges / "USED_IP.parquet", columns=["dst"])[
            "dst"].to_numpy(dtype=object)
        self.rng = np.random.default_rng(seed)

    def event(self, i: int, tag: str) -> dict[str, object]:
        """Event ``i``: an account's login or order from one of its devices and one IP."""
        pick = int(self.rng.integers(len(self.devices)))
        src, device = self.accounts[pick], self.devices[pick]
        if self.rng.random() < 0.1:
            device = f"bench_dev_{tag}_{i}"
        ip = self.ip_values[int(self.rng.integers(len(self.ip_values)))]
        kind = "order" if self.rng.random() < 0.3 else "login"
        event = {"event_id": f"bench-{tag}-{i}", "account_id": str(src),
                 "ts": "2025-01-15T12:00:00Z", "event_type": kind,
                 "device_id": str(device), "ip": str(ip)}
        if kind == "order":
            event["amount"] = round(float(self.rng.gamma(2.0, 20.0)), 2)
        return event


def phases(metrics: str) -> dict[str, dict[str, float]]:
    """The service's phase times and collector pauses from its ``/metrics`` text: per phase
    (or generation) the count, mean ms, the bucket bound (ms) holding the 99th percentile and
    the longest ms."""
    found: dict[str, dict[str, object]] = {}
    for line in metrics.splitlines():
        for family in ("abusenet_phase_seconds", "abusenet_gc_pause_seconds"):
            if not line.startswith(family + "_"):
                continue
            name, value = line.rsplit(" ", 1)
            part = name[len(family) + 1:name.index("{")]
            labels = {k: v.strip('"') for k, v in (
                item.split("=", 1) for item in name[name.index("{") + 1:-1].split(","))}
            key = "gc" + labels["generation"] if "generation" in labels else labels["phase"]
            entry = found.setdefault(key, {"buckets": []})
            if part == "bucket":
                entry["buckets"].append((float(labels["le"]), float(value)))
            else:
                entry[part] = float(value)
    out = {}
    for key, entry in found.items():
        count = entry.get("count", 0.0)
        if not count:
            continue
        p99 = next(bound for bound, n in entry["buckets"] if n >= 0.99 * count)
        out[key] = {"count": int(count), "mean_ms": round(1000 * entry["sum"] / count, 3),
                    "p99_bucket_ms": 1000 * p99, "max_ms": round(1000 * entry["max"], 1)}
    return out


def gauge(metrics: str, name: str) -> float | None:
    """The value of the unlabelled metric ``name`` in ``metrics`` text (``None``: absent, as
    from a service without it)."""
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of process ``pid`` in MB (Linux), or ``None``."""
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux), or ``None``."""
    if pid is None:
        return None
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main_thread_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid``'s main thread so far (Linux; in the
    service, the event loop: HTTP, JSON and validation; the writer's threads do the rest), or
    ``None``."""
    if pid is None:
        return None
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def abusenet(*args: str, launch: tuple[str, ...] = CLI) -> None:
    """Run an ``abusenet`` command in a child process (``launch``: the code that runs the
    command line); stop on failure."""
    command = [sys.executable, "-c", *launch, *args]
    print("+ abusenet " + " ".join(args), file=sys.stderr, flush=True)
    began = time.perf_counter()
    subprocess.run(command, check=True, cwd=Path(__file__).resolve().parents[1])
    print(f"  ({time.perf_counter() - began:.0f} s)", file=sys.stderr, flush=True)


def build_world(world: Path, accounts: int, seed: int, epochs: int) -> Path:
    """A serving world of ``accounts`` generated accounts in ``world`` (built once); its run."""
    run = world / "run"
    if (run / "model" / "model.pt").is_file():
        return run
    data, ingested = world / "data", world / "ingest"
    if not (data / "labels.csv").is_file():
        abusenet("synth", "--out", str(data), "--accounts", str(accounts), "--seed", str(seed),
                 "--force")
    if not (ingested / "snapshot" / "manifest.json").is_file():
        mapping = Path(__file__).resolve().parents[1] / "configs" / "mappings" / "synth.yaml"
        abusenet("ingest", "--input", str(data / "events"), "--mapping", str(mapping),
                 "--labels", str(data / "labels.csv"), "--out", str(ingested))
    work = run / ".work"
    (work / "ingest").mkdir(parents=True, exist_ok=True)
    (work / "snapshot").mkdir(parents=True, exist_ok=True)
    for source, target in ((ingested / "events", work / "ingest" / "events"),
                           (ingested / "snapshot", work / "snapshot" / "snapshot")):
        if not target.exists():
            target.symlink_to(source.resolve(), target_is_directory=True)
    abusenet("train", "--snapshot", str(work / "snapshot" / "snapshot"), "--out",
             str(run / "model"), f"detector.max_epochs={epochs}", "detector.patience=1")
    # the start caches written now, as a training run's serve_start stage writes them
    abusenet("serve", "--run", str(run), "--prepare", launch=(LAUNCH,))
    return run


def service_segments(run: Path) -> list[Path]:
    """The segments services logged into ``run``'s event store (``part-serve-*``)."""
    events = run / ".work" / "ingest" / "events"
    return [p for p in events.glob("day=*/*.parquet") if p.name.startswith("part-serve-")]


def remove_service_segments(run: Path) -> int:
    """Delete the segments earlier benchmarks' services logged into ``run``'s event store."""
    segments = service_segments(run)
    for path in segments:
        path.unlink()
    return len(segments)


def start(run: Path, source: Path, token: str,
          options: Sequence[str] = ()) -> tuple[subprocess.Popen, str, float]:
    """Launch `serve` on ``run`` with the code in ``source`` and the further command-line
    ``options``; (process, url, start-up seconds)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ABUSENET_API_TOKEN": token}
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "serve", "--run", str(run), "--port", str(port),
         *options],
        cwd=source, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - began < 600:
        if process.poll() is not None:
            raise SystemExit(f"serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url, time.perf_counter() - began
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("serve was not ready in 600 s")


class Sender:
    """POSTs of ready JSON bodies to ``url``'s ``/v1/events``, one kept-alive connection per
    sending thread (``http.client``: some 0.3 CPU ms a request where httpx took ~1.5, on the
    cores the service runs on)."""

    def __init__(self, url: str, token: str | None) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.headers = {"Content-Type": "application/json",
                        **({"Authorization": f"Bearer {token}"} if token else {})}
        self._local = threading.local()

    def post(self, body: bytes) -> int:
        """The status of one POST of ``body``; a connection the service closed meanwhile is
        opened again, once (a resent event is answered as a duplicate, changing nothing)."""
        try:
            return self._post(body)
        except (http.client.HTTPException, ConnectionError):
            self._local.connection.close()
            self._local.connection = None
            return self._post(body)

    def connect(self) -> None:
        """Open this thread's connection now (before a clock starts)."""
        self._connection().connect()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection(
                self.host, self.port, timeout=120)
        return connection

    def _post(self, body: bytes) -> int:
        connection = self._connection()
        connection.request("POST", "/v1/events", body, self.headers)
        response = connection.getresponse()
        response.read()
        return response.status


def connected_pool(sender: Sender, clients: int) -> ThreadPoolExecutor:
    """``clients`` sending threads, each with its connection of ``sender`` open (a barrier
    holds each thread to one), so that no clock started after it counts their start."""
    pool = ThreadPoolExecutor(clients)
    opened = threading.Barrier(clients)

    def connect(_: int) -> None:
        sender.connect()
        opened.wait()

    list(pool.map(connect, range(clients)))
    return pool


#: Seconds of single events' due times per window of ``p99_by_window_ms``.
WINDOW = 10.0


def single_phase(sender: Sender, traffic: Traffic, tag: str, rate: float,
                 seconds: float, limit: int, clients: int,
                 trace: Path | None = None) -> dict[str, object]:
    """Single events at ``rate`` per second for ``seconds`` (open loop); latency figures, and
    the p99 of each :data:`WINDOW` seconds of due times (``p99_by_window_ms``: whether the tail
    comes from the first seconds after a start or from all along). The bodies are encoded
    before the clock starts, and each sending thread is started with its connection open (a
    caller with kept-alive connections; before, the first due times found this generator
    starting its threads and connections: at 20k accounts, sends up to ~0.1 s late).
    ``trace``: each request's due, sent and done seconds (from the first due time) and
    status, as CSV lines in due order (where a tail's time goes)."""
    waited: list[float] = []
    windows: dict[int, list[float]] = {}
    served: list[float] = []
    late: list[float] = []
    timeline: list[tuple[int, float, float, float, int]] = []
    failed = 0
    lock = threading.Lock()
    count = min(limit, int(rate * seconds))
    bodies = [json.dumps(traffic.event(i, tag)).encode() for i in range(count)]
    pool = connected_pool(sender, clients)
    began = time.perf_counter()

    def send(i: int) -> None:
        nonlocal failed
        due = began + i / rate
        time.sleep(max(0.0, due - time.perf_counter()))
        sent = time.perf_counter()
        status = sender.post(bodies[i])
        ok = status == 200
        done = time.perf_counter()
        with lock:
            timeline.append((i, due - began, sent - began, done - began, status))
            waited.append(done - due)
            windows.setdefault(int(i / rate // WINDOW), []).append(done - due)
            served.append(done - sent)
            late.append(sent - due)
            failed += not ok

    with pool:
        list(pool.map(send, range(count)))
    elapsed = time.perf_counter() - began
    if trace is not None:
        trace.write_text("i,due_s,sent_s,done_s,status\n" + "".join(
            f"{i},{due:.4f},{sent:.4f},{done:.4f},{status}\n"
            for i, due, sent, done, status in sorted(timeline)))
    return {"requests": count, "failed": failed, "offered_per_s": rate,
            "events_per_s": round(count / elapsed, 1), **percentiles(waited),
            **{f"service_{k}": v for k, v in percentiles(served).items()},
            **{f"sent_late_{k}": v for k, v in percentiles(late).items()},
            "p99_by_window_ms": [percentiles(windows[w])["p99_ms"] for w in sorted(windows)],
            # the trace's zero on this machine's monotonic clock (time.perf_counter's in
            # every process on Linux): to line the trace up with other records of the run
            "first_due_perf_counter_s": round(began, 4)}


#: Events in each batch of the batch phase.
BATCH = 100


def batch_phase(sender: Sender, traffic: Traffic, tag: str, count: int, max_seconds: float,
                clients: int = 1) -> dict[str, float | int | None]:
    """``count`` batches of :data:`BATCH` events, each POSTed once the answer to the one
    before came back (closed loop) by each of ``clients`` sending threads (1: one after the
    other), for at most ``max_seconds``; sustained events/s and latency figures.

    The bodies are encoded before the clock starts and sent with :class:`Sender` (the
    singles' ``http.client``): events/s is the service's, not this generator's (sent with
    ``httpx`` and encoded on the clock, as before session 31, this generator's own ~1.2 CPU
    ms a batch was in every batch's time)."""
    bodies = [json.dumps({"events": [traffic.event(BATCH * b + k, tag) for k in range(BATCH)]})
              .encode() for b in range(count)]
    taken = iter(bodies)
    lock = threading.Lock()
    latency: list[float] = []
    failed = 0
    pool = connected_pool(sender, clients)
    began = time.perf_counter()

    def send(_: int) -> None:
        nonlocal failed
        while time.perf_counter() - began <= max_seconds:
            with lock:
                body = next(taken, None)
            if body is None:
                return
            sent = time.perf_counter()
            status = sender.post(body)
            with lock:
                latency.append(time.perf_counter() - sent)
                failed += status != 200

    with pool:
        list(pool.map(send, range(clients)))
    elapsed = time.perf_counter() - began
    if failed:
        raise SystemExit(f"{failed} of {len(latency)} batches failed")
    return {"requests": len(latency), "clients": clients, "events": BATCH * len(latency),
            "events_per_s": round(BATCH * len(latency) / elapsed, 1), **percentiles(latency)}


def phase_means(before: str, after: str) -> dict[str, float]:
    """The service's mean milliseconds per phase between two ``/metrics`` texts (the phases
    recorded in between; :func:`phases` counts since the start)."""
    def sums(metrics: str) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for line in metrics.splitlines():
            for part, at in (("_sum{", 0), ("_count{", 1)):
                head = "abusenet_phase_seconds" + part
                if line.startswith(head):
                    phase = line[len(head):].split('"')[1]
                    found.setdefault(phase, [0.0, 0.0])[at] = float(line.rsplit(" ", 1)[1])
        return found

    first, last = sums(before), sums(after)
    out = {}
    for phase, (total, count) in sorted(last.items()):
        total0, count0 = first.get(phase, [0.0, 0.0])
        if count > count0:
            out[phase] = round(1000 * (total - total0) / (count - count0), 3)
    return out


#: The phases of an applied group, in the order the writer's apply thread takes them
#: (:meth:`abusenet.serve.writer.EventWriter._apply`).
APPLY_PHASES = ("update", "rescore", "views")


def _phase_calls(step: Callable[[], Any]) -> tuple[Any, int, int]:
    """``step()``'s result and the Python and C calls it made (``sys.setprofile``)."""
    calls = {"call": 0, "c_call": 0}

    def count(frame: object, event: str, arg: object) -> None:
        if event in calls:
            calls[event] += 1

    sys.setprofile(count)
    try:
        result = step()
    finally:
        sys.setprofile(None)
    return result, calls["call"], calls["c_call"]


def in_process(run: Path, model: Path | None, sizes: Sequence[int], groups: int, warm: int,
               seed: int, count_calls: int = 0, dump: Path | None = None) -> dict[str, Any]:
    """The service's apply path in this process, no HTTP: the state ``abusenet serve`` loads
    (``run``, ``model``; one BLAS and one torch thread, the loaded objects frozen for the
    collector, as the service sets them), ``warm`` one-event groups first, then ``groups``
    groups of each of ``sizes`` events taken in turn (1, 100, 1, 100, ...: the same load for
    every size). Each group is validated as the event loop does, logged as the log thread
    does (a segment written and made durable: ``log``, CPU and wall, its ``fsync`` s waited
    for), then applied in the writer's three steps: ``update`` (:meth:`GraphState.apply`),
    ``rescore`` (:meth:`GraphState.refresh` of its accounts) and ``views``
    (:meth:`GraphState.account_views`, the responses); the calling thread's CPU (its clock:
    other threads and processes do not count) and wall ms of each, per group. In the service
    the log thread logs a group while the apply thread applies the one before; here one thread
    takes the steps in turn. The segments go into the run's event store as a service's do
    (``--cold`` removes them before the next run).

    Returns the apply's CPU ms of each warm group (``warm_apply_cpu_ms``: the first groups after
    a start, the path's cold cost: at 1M, session 31, ~30-40 ms over the first five and a first
    new node's copies), and per size the mean / median CPU ms a group of each phase and of the
    apply's three, CPU ms an event (the apply's; all phases'), wall ms a group; with
    ``count_calls`` the Python and C calls a group of each phase makes on that many further
    groups, and its CPU ms with the counting hook on (``sys.setprofile``: not in the figures
    above); ``responses_sha256``, a digest of every response (the same events and seed give the
    same traffic: equal digests = identical responses, to the bit), and with ``dump`` the
    responses written there as JSON lines (compare two codes' scores within a tolerance)."""
    import gc

    import torch
    from threadpoolctl import threadpool_limits

    from abusenet.serve.durable_log import write_segment
    from abusenet.serve.state import GraphState
    from abusenet.serve.validation import EventValidator, canonical_mapping

    threadpool_limits(1, user_api="blas")
    torch.set_num_threads(1)
    began = time.perf_counter()
    state = GraphState.load(run, model)
    state.warm()  # as the service does before it is ready
    validator = EventValidator(canonical_mapping(state.ingest_state))
    gc.collect()
    gc.freeze()
    load_s = time.perf_counter() - began
    traffic = Traffic(run, seed)
    digest = hashlib.sha256()
    out = dump.open("w") if dump is not None else None
    serial = iter(range(10 ** 12))

    def events(size: int) -> list[dict[str, object]]:
        return [traffic.event(next(serial), "inproc") for _ in range(size)]

    def steps(rows: pa.Table) -> tuple[Callable[[], Any], ...]:
        accounts = rows.column("account_id").to_pylist()
        return (lambda: state.apply(rows), lambda: state.refresh(list(dict.fromkeys(accounts))),
                lambda: state.account_views(accounts))

    def group(size: int, timed: bool) -> dict[str, float]:
        batch = events(size)
        cpu = time.thread_time()
        checked = validator.check(batch)
        figures = {"validate": time.thread_time() - cpu}
        cpu, wall = time.thread_time(), time.perf_counter()
        write_segment(checked.events, state.events_dir).commit()
        figures["log"], figures["log_wall"] = (time.thread_time() - cpu,
                                               time.perf_counter() - wall)
        cpu, wall = time.thread_time(), time.perf_counter()
        for phase, step in zip(APPLY_PHASES, steps(checked.events), strict=True):
            result = step()
            now = time.thread_time()
            figures[phase], cpu = now - cpu, now
        figures["wall"] = time.perf_counter() - wall
        text = json.dumps(result, sort_keys=True)
        digest.update(text.encode())
        if out is not None and timed:
            out.write(text + "\n")
        return figures

    # the apply's CPU of each warm group: the first ones after a start pay the cold path
    cold = [sum(group(1, timed=False)[p] for p in APPLY_PHASES) for _ in range(warm)]
    taken: dict[int, list[dict[str, float]]] = {size: [] for size in sizes}
    for _ in range(groups):
        for size in sizes:
            taken[size].append(group(size, timed=True))
    calls: dict[int, dict[str, list[float]]] = {}
    for size in sizes if count_calls else ():
        # per phase: Python calls, C calls, CPU ms with the counting hook on (what a profiler
        # hook adds to a path of this many calls)
        counted: dict[str, list[float]] = {p: [0, 0, 0.0] for p in APPLY_PHASES}
        for _ in range(count_calls):
            batch = events(size)
            checked = validator.check(batch)
            for phase, step in zip(APPLY_PHASES, steps(checked.events), strict=True):
                cpu = time.thread_time()
                _, python, c = _phase_calls(step)
                counted[phase][2] += 1000 * (time.thread_time() - cpu)
                counted[phase][0] += python
                counted[phase][1] += c
        calls[size] = {p: [round(n / count_calls, 3) for n in v] for p, v in counted.items()}
    if out is not None:
        out.close()

    def ms(values: list[float]) -> dict[str, float]:
        return {"mean": round(1000 * float(np.mean(values)), 3),
                "median": round(1000 * float(np.median(values)), 3)}

    sized = {}
    for size, figures in taken.items():
        total = [sum(f[p] for p in APPLY_PHASES) for f in figures]
        sized[str(size)] = {
            "groups": len(figures),
            "apply_cpu_ms": ms(total),
            **{f"{p}_cpu_ms": ms([f[p] for f in figures]) for p in APPLY_PHASES},
            "validate_cpu_ms": ms([f["validate"] for f in figures]),
            "log_cpu_ms": ms([f["log"] for f in figures]),
            "log_wall_ms": ms([f["log_wall"] for f in figures]),
            "apply_cpu_ms_per_event": round(1000 * float(np.mean(total)) / size, 4),
            # with the validation and the log: the service's CPU an event less HTTP and JSON
            "all_cpu_ms_per_event": round(1000 * float(np.mean(
                [t + f["validate"] + f["log"] for t, f in zip(total, figures, strict=True)]))
                / size, 4),
            "apply_wall_ms": ms([f["wall"] for f in figures]),
            **({"calls_python_c_hooked_cpu_ms": calls[size]} if size in calls else {})}
    return {"accounts": state.num_accounts, "load_s": round(load_s, 1), "warm_groups": warm,
            "warm_apply_cpu_ms": [round(1000 * c, 2) for c in cold],
            "sizes": sized, "responses_sha256": digest.hexdigest(),
            "load_average": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path)
    parser.add_argument("--world", type=Path, help="build (once) and use a generated world here")
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts of --world")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1, help="training epochs of --world")
    parser.add_argument("--start", action="store_true", help="launch the service here")
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1],
                        help="checkout whose code --start runs")
    parser.add_argument("--serve-options", default="",
                        help="further `abusenet serve` options for --start, e.g. "
                        "'--input-cache-rows 5000000'")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", default=os.environ.get("ABUSENET_API_TOKEN"))
    parser.add_argument("--pid", type=int)
    parser.add_argument("--rate", type=float, default=200.0,
                        help="single events per second (0: no singles, batches only)")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of single events")
    parser.add_argument("--singles", type=int, default=100_000, help="at most this many singles")
    parser.add_argument("--clients", type=int, default=32, help="sending threads (singles)")
    parser.add_argument("--trace", type=Path,
                        help="the singles' due / sent / done seconds a request, as CSV")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-clients", type=int, default=1,
                        help="threads sending batches, each the next once answered (1: one "
                             "after the other, the figure quoted so far)")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="cap of the batches")
    parser.add_argument("--cold", action="store_true",
                        help="with --run: delete the segments services logged into its event "
                             "store first (a started service would replay them and start warm)")
    parser.add_argument("--in-process", action="store_true",
                        help="no HTTP: the apply path's CPU ms a group by phase (in_process)")
    parser.add_argument("--model", type=Path, help="--in-process: the model to publish")
    parser.add_argument("--sizes", default="1,100", help="--in-process: events a group")
    parser.add_argument("--groups", type=int, default=200, help="--in-process: groups a size")
    parser.add_argument("--warm", type=int, default=60,
                        help="--in-process: one-event groups applied first, not timed")
    parser.add_argument("--count-calls", type=int, default=0,
                        help="--in-process: further groups a size whose calls are counted")
    parser.add_argument("--dump", type=Path, help="--in-process: the responses as JSON lines")
    args = parser.parse_args()
    if args.world is not None:
        args.run = build_world(args.world, args.accounts, args.seed, args.epochs)
    if args.run is None:
        parser.error("give --run or --world")
    if args.in_process:
        if args.world is not None or args.cold:
            remove_service_segments(args.run)
        sizes = [int(size) for size in args.sizes.split(",")]
        print(json.dumps(in_process(args.run, args.model, sizes, args.groups, args.warm,
                                    args.seed, args.count_calls, args.dump), indent=2))
        return
    if args.world is not None or args.cold:
        removed = remove_service_segments(args.run)
        if removed:
            print(f"removed {removed} segments of earlier benchmarks", file=sys.stderr)
    segments = len(service_segments(args.run))
    process, startup = None, None
    if args.start:
        args.token = secrets.token_urlsafe(16)
        process, args.url, startup = start(args.run, args.source, args.token,
                                           shlex.split(args.serve_options))
        args.pid = process.pid
    tag = uuid.uuid4().hex[:8]
    traffic = Traffic(args.run)
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    client = httpx.Client(base_url=args.url, timeout=120, limits=limits,
                          headers={"Authorization": f"Bearer {args.token}"})
    try:
        cpu_before, loop_before = cpu_seconds(args.pid), main_thread_cpu_seconds(args.pid)
        own_before = time.process_time()
        single = single_phase(Sender(args.url, args.token), traffic, tag, args.rate,
                              args.seconds, args.singles, args.clients, args.trace)
        cpu_single, loop_single = cpu_seconds(args.pid), main_thread_cpu_seconds(args.pid)
        own_single = time.process_time()
        exposition = client.get("/metrics").text
        single_phases = phases(exposition)
        own_batches = time.process_time()
        batch = batch_phase(Sender(args.url, args.token), traffic, f"{tag}b", args.batches,
                            args.max_seconds, args.batch_clients)
        cpu_batch, loop_batch = cpu_seconds(args.pid), main_thread_cpu_seconds(args.pid)
        own_batch = time.process_time() - own_batches
        batch_phases = phase_means(exposition, client.get("/metrics").text)
        rss = rss_mb(args.pid)
    finally:
        client.close()
        if process is not None:
            process.terminate()
            process.wait(timeout=60)
    stage = args.run / ".work" / "stages" / "score.json"
    seconds = json.loads(stage.read_text()).get("seconds") if stage.is_file() else None
    manifest = json.loads((args.run / ".work" / "snapshot" / "snapshot" / "manifest.json")
                          .read_text())
    cpu = None if cpu_before is None else {
        "single_phase": round(cpu_single - cpu_before, 1),
        "batch_phase": round(cpu_batch - cpu_single, 1),
        "single_ms_per_event": (round(1000 * (cpu_single - cpu_before) / single["requests"], 3)
                                if single["requests"] else None),
        # of which the event loop's (the main thread: HTTP, JSON, validation)
        "single_event_loop_ms_per_event": (
            round(1000 * (loop_single - loop_before) / single["requests"], 3)
            if single["requests"] else None),
        "batch_ms_per_event": round(1000 * (cpu_batch - cpu_single) / max(batch["events"], 1),
                                    3),
        "batch_event_loop_ms_per_event": round(
            1000 * (loop_batch - loop_single) / max(batch["events"], 1), 3)}
    applied = single_phases.get("update", {}).get("count")
    print(json.dumps({
        "accounts": manifest["nodes"]["Account"]["count"],
        "events": manifest["events"]["count"],
        "startup_s": None if startup is None else round(startup, 1),
        "service_segments": segments,
        "single": single,
        "single_phases": single_phases,
        "single_events_per_group": (None if not applied
                                    else round(single["requests"] / applied, 2)),
        # the writer's apply thread's busy share at the singles' end (it decides its linger)
        "single_apply_busy": gauge(exposition, "abusenet_apply_busy_share"),
        "batch_100": batch,
        # the service's mean ms a request (or group) per phase during the batches
        "batch_phases_mean_ms": batch_phases,
        "service_cpu_s": cpu,
        # this load generator's own CPU (it shares the machine's cores with the service)
        "generator_cpu_ms_per_event": {
            "single": (round(1000 * (own_single - own_before) / single["requests"], 3)
                       if single["requests"] else None),
            "batch": round(1000 * own_batch / max(batch["events"], 1), 3)},
        "rss_mb": rss,
        "load_average": os.getloadavg(),
        "batch_score_seconds_per_event": (None if seconds is None
                                          else seconds / manifest["events"]["count"]),
    }, indent=2))


if __name__ == "__main__":
    main()
