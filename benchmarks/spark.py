"""Benchmark: the Spark engine against the DuckDB engine, logs -> events -> snapshot.

Usage::

    python -m benchmarks.spark --events 100000 1000000 [--master local[2]] [--workdir DIR]

Each engine runs in its own process (ingest of one generated CSV file, then the snapshot) so
its CPU time (user + system; for Spark, plus the JVM's, read from /proc before it stops) and
peak memory are its own. Prints a Markdown table: events, engine, wall seconds, events/s, CPU
seconds, the Python driver's peak RSS and, for Spark, the JVM's peak RSS (driver and, in local
mode, the executors it hosts). The CSV files (:func:`benchmarks.ingest.make_events_csv`) are
kept in the work directory and reused.

``--jobs`` also prints, for Spark, every job's executor CPU seconds (summed over its tasks, from
Spark's event log; JIT, GC threads and query planning excluded), shuffle bytes written and call
site, so the dominant stages can be told apart without a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.ingest import MAPPING, make_events_csv

ENGINES = ("duckdb", "spark")


def run_engine(engine: str, csv: Path, work: Path, master: str, jobs: bool = False
               ) -> dict[str, float]:
    """Ingest ``csv`` and build the snapshot with ``engine`` (in this process); return its
    facts: events accepted, snapshot accounts, for Spark the JVM's peak RSS in MB, the Python
    driver's peak RSS after the session started, after the ingest and after the snapshot and,
    with ``jobs``, each Spark job's facts (:func:`job_facts`)."""
    from ingest.mapping import mapping_from_dict

    mapping = mapping_from_dict(MAPPING)
    shutil.rmtree(work, ignore_errors=True)
    facts: dict[str, float] = {}
    if engine == "spark":
        from graph.spark_build import write_snapshot_spark
        from ingest.spark_ingest import ingest_logs_spark
        from ingest.spark_session import spark_session

        conf = {"spark.ui.enabled": "false"}
        log_dir = work.parent / f"{work.name}-eventlog"
        if jobs:
            shutil.rmtree(log_dir, ignore_errors=True)
            log_dir.mkdir(parents=True)
            conf |= {"spark.eventLog.enabled": "true", "spark.eventLog.compress": "false",
                     "spark.eventLog.dir": str(log_dir)}
        spark = spark_session(master, shuffle_partitions=8, **conf)
        spark.sparkContext.setLogLevel("ERROR")
        facts["python_rss_session_mb"] = _peak_rss_mb()
        summary = ingest_logs_spark(csv, mapping, work / "events", spark=spark)
        facts["python_rss_ingest_mb"] = _peak_rss_mb()
        manifest = write_snapshot_spark(work / "events", work / "snapshot", spark=spark)
        facts["python_rss_snapshot_mb"] = _peak_rss_mb()
        facts["jvm_peak_rss_mb"], facts["jvm_cpu_s"], threads = _jvm_facts(spark)
        facts |= {f"jvm_{group}_cpu_s": cpu for group, cpu in threads.items()}
        spark.stop()
        if jobs:
            facts["jobs"] = job_facts(next(log_dir.iterdir()))
    else:
        from graph.build import write_snapshot_files
        from ingest.run import ingest_logs

        summary = ingest_logs(csv, mapping, work / "events", progress=False)
        manifest = write_snapshot_files(work / "events", work / "snapshot", progress=False)
    facts["accepted"] = summary.accepted
    facts["accounts"] = manifest["nodes"]["Account"]["count"]
    return facts


def _peak_rss_mb() -> float:
    """This process's peak RSS so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def job_facts(event_log: Path) -> list[dict]:
    """Per Spark job of an uncompressed event log (a file, or a folder of rolled ``events_*``
    files): id, call site, tasks, executor CPU seconds, executor run seconds, GC seconds and
    shuffle MB written."""
    jobs: dict[int, dict] = {}
    owner: dict[int, int] = {}
    parts = (sorted(event_log.glob("events_*"), key=lambda p: int(p.name.split("_")[1]))
             if event_log.is_dir() else [event_log])
    for part in parts:
        for line in part.read_text().splitlines():
            event = json.loads(line)
            kind = event["Event"]
            if kind == "SparkListenerJobStart":
                site = (event.get("Properties") or {}).get("callSite.short", "")
                jobs[event["Job ID"]] = {"job": event["Job ID"], "site": site, "tasks": 0,
                                         "cpu_s": 0.0, "run_s": 0.0, "gc_s": 0.0,
                                         "shuffle_mb": 0.0}
                owner |= dict.fromkeys(event["Stage IDs"], event["Job ID"])
            elif kind == "SparkListenerTaskEnd" and event["Stage ID"] in owner:
                job, metrics = jobs[owner[event["Stage ID"]]], event.get("Task Metrics") or {}
                job["tasks"] += 1
                job["cpu_s"] += metrics.get("Executor CPU Time", 0) / 1e9
                job["run_s"] += metrics.get("Executor Run Time", 0) / 1e3
                job["gc_s"] += metrics.get("JVM GC Time", 0) / 1e3
                shuffle = metrics.get("Shuffle Write Metrics") or {}
                job["shuffle_mb"] += shuffle.get("Shuffle Bytes Written", 0) / 1e6
    return list(jobs.values())


#: JVM thread name prefixes (as /proc shows them, 15 characters at most) -> thread group.
THREAD_GROUPS = (("C1 CompilerThre", "jit"), ("C2 CompilerThre", "jit"), ("GC Thread", "gc"),
                 ("G1 ", "gc"), ("VM Thread", "gc"), ("Executor task", "tasks"))


def _jvm_facts(spark) -> tuple[float, float, dict[str, float]]:
    """Peak RSS (VmHWM, MB), CPU seconds so far of the Spark JVM this process started, and
    those CPU seconds by thread group (:data:`THREAD_GROUPS`: JIT compilers, garbage
    collection, executor tasks; the rest as ``other``)."""
    pid = spark.sparkContext._gateway.proc.pid  # noqa: SLF001 (no public handle on the JVM)
    for proc in [pid, *_children(pid)]:
        if "java" not in Path(f"/proc/{proc}/comm").read_text():
            continue
        status = Path(f"/proc/{proc}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
        threads = dict.fromkeys(["jit", "gc", "tasks", "other"], 0.0)
        for task in Path(f"/proc/{proc}/task").iterdir():
            try:
                name = (task / "comm").read_text().strip()
                seconds = _cpu_seconds(task / "stat")
            except FileNotFoundError:  # the thread ended meanwhile
                continue
            group = next((g for prefix, g in THREAD_GROUPS if name.startswith(prefix)), "other")
            threads[group] += seconds
        return int(line.split()[1]) / 1024, _cpu_seconds(Path(f"/proc/{proc}/stat")), threads
    return float("nan"), float("nan"), {}


def _cpu_seconds(stat: Path) -> float:
    """User + system CPU seconds of a /proc ``stat`` file (a process's or a thread's)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "children").read_text().split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        for child in map(int, text):
            found += [child, *_children(child)]
    return found


def measure(engine: str, csv: Path, work: Path, master: str, jobs: bool = False
            ) -> dict[str, float]:
    """Run :func:`run_engine` in a child process; its facts and wall time."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.spark", "--child", engine, "--csv", str(csv),
         "--workdir", str(work), "--master", master, *(["--jobs"] if jobs else [])],
        capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{engine} failed:\n{done.stderr[-3000:]}")
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    facts["wall_s"] = wall
    return facts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/abusenet-bench-spark"))
    parser.add_argument("--jobs", action="store_true",
                        help="also print each Spark job's executor CPU seconds")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        facts = run_engine(args.child, args.csv, args.workdir, args.master, args.jobs)
        own = resource.getrusage(resource.RUSAGE_SELF)
        facts["python_peak_rss_mb"] = own.ru_maxrss / 1024
        facts["cpu_s"] = own.ru_utime + own.ru_stime + facts.pop("jvm_cpu_s", 0.0)
        print(json.dumps(facts))
        return
    print("| events | engine | wall s | events/s | CPU s | Python peak RSS MB | "
          "JVM peak RSS MB |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n in args.events:
        csv = args.workdir / f"events-{n}.csv"
        if not csv.is_file():
            args.workdir.mkdir(parents=True, exist_ok=True)
            make_events_csv(csv, n)
        for engine in args.engines:
            facts = measure(engine, csv, args.workdir / f"out-{engine}", args.master, args.jobs)
            jvm = facts.get("jvm_peak_rss_mb")
            print(f"| {n:,} | {engine} | {facts['wall_s']:.1f} | {n / facts['wall_s']:,.0f} | "
                  f"{facts['cpu_s']:.1f} | {facts['python_peak_rss_mb']:.0f} | "
                  f"{'' if jvm is None else f'{jvm:.0f}'} |", flush=True)
            if "python_rss_ingest_mb" in facts:
                print(f"|   Python peak RSS MB after the session / ingest / snapshot | "
                      f"{facts['python_rss_session_mb']:.0f} / "
                      f"{facts['python_rss_ingest_mb']:.0f} / "
                      f"{facts['python_rss_snapshot_mb']:.0f} | | | | | |")
            if "jvm_jit_cpu_s" in facts:
                print(f"|   JVM CPU s by thread: JIT / GC / executor tasks / other | "
                      f"{facts['jvm_jit_cpu_s']:.1f} / {facts['jvm_gc_cpu_s']:.1f} / "
                      f"{facts['jvm_tasks_cpu_s']:.1f} / {facts['jvm_other_cpu_s']:.1f} "
                      "| | | | | |")
            executor = sum(job["cpu_s"] for job in facts.get("jobs", []))
            if executor:
                print(f"|   executor CPU s, all {len(facts['jobs'])} jobs | {executor:.1f} "
                      "| | | | | |")
            for job in facts.get("jobs", []):
                print(f"|   job {job['job']} ({job['tasks']} tasks) | {job['site'][:50]} | "
                      f"executor CPU {job['cpu_s']:.1f} s | run {job['run_s']:.1f} s | "
                      f"GC {job['gc_s']:.1f} s | shuffle {job['shuffle_mb']:.1f} MB | |")


if __name__ == "__main__":
    main()
