"""Stage caching: unchanged stages are skipped, changes rerun downstream, failures resume."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from rich.console import Console

from abusenet.pipeline.cache import StageCache, code_fingerprint, files_fingerprint, fingerprint
from abusenet.pipeline.runner import (
    StageFailed,
    StageProcessDied,
    StageRunner,
    StageSpec,
    can_fork,
)


class Recorder:
    """Stages that write a file and count their calls; one can be made to fail."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail: str | None = None

    def stage(self, name: str, key=None, after=(), code=None) -> StageSpec:
        def run(out: Path) -> dict:
            self.calls.append(name)
            (out / "part.txt").write_text("half")
            if self.fail == name:
                raise RuntimeError(f"{name} broke")
            (out / "result.json").write_text(json.dumps({"stage": name}))
            return {"stage": name}

        extra = {} if code is None else {"code": code}
        return StageSpec(name, f"stage {name}", run, key=key, after=tuple(after), **extra)


def _runner(tmp_path: Path, force: bool = False) -> StageRunner:
    return StageRunner(StageCache(tmp_path / "work"), Console(file=open("/dev/null", "w")),
                       force=force)


def _plan(rec: Recorder, b_key: str = "b1") -> list[StageSpec]:
    return [rec.stage("a", key="a1"), rec.stage("b", key=b_key, after=["a"]),
            rec.stage("c", after=["b"]), rec.stage("d", after=["a"])]


def test_a_second_run_skips_every_unchanged_stage(tmp_path):
    rec = Recorder()
    first = _runner(tmp_path).run(_plan(rec))
    assert rec.calls == ["a", "b", "c", "d"]
    assert not any(o.cached for o in first.values())
    second = _runner(tmp_path).run(_plan(rec))
    assert rec.calls == ["a", "b", "c", "d"]
    assert all(o.cached for o in second.values())
    assert second["c"].info == {"stage": "c"}
    assert (second["c"].output_dir / "result.json").is_file()


def test_stages_log_their_start_finish_and_cache_hits(tmp_path, caplog):
    rec = Recorder()
    with caplog.at_level(logging.INFO, logger="abusenet.pipeline.runner"):
        _runner(tmp_path).run(_plan(rec))
        _runner(tmp_path).run(_plan(rec))
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("stage a started") for m in messages)
    assert any(m.startswith("stage a finished in ") and m.endswith(" s") for m in messages)
    assert sum("cached result kept" in m for m in messages) == 4


def test_a_changed_stage_reruns_itself_and_what_reads_it_only(tmp_path):
    rec = Recorder()
    _runner(tmp_path).run(_plan(rec))
    rec.calls.clear()
    _runner(tmp_path).run(_plan(rec, b_key="b2"))
    assert rec.calls == ["b", "c"]


def test_force_reruns_everything(tmp_path):
    rec = Recorder()
    _runner(tmp_path).run(_plan(rec))
    rec.calls.clear()
    _runner(tmp_path, force=True).run(_plan(rec))
    assert rec.calls == ["a", "b", "c", "d"]


def test_a_failed_run_keeps_finished_stages_and_resumes_at_the_failed_one(tmp_path):
    rec = Recorder()
    rec.fail = "c"
    with pytest.raises(StageFailed) as failed:
        _runner(tmp_path).run(_plan(rec))
    assert failed.value.stage.name == "c"
    assert isinstance(failed.value.error, RuntimeError)
    work = tmp_path / "work"
    assert not (work / "c").exists(), "a failed stage must leave no output directory"
    assert not [p for p in work.iterdir() if p.name.startswith(".c.")], "temp dir left behind"
    rec.calls.clear()
    rec.fail = None
    outcomes = _runner(tmp_path).run(_plan(rec))
    assert rec.calls == ["c", "d"]
    assert outcomes["a"].cached and outcomes["b"].cached and not outcomes["c"].cached


def test_a_failed_rerun_keeps_the_previous_outputs(tmp_path):
    rec = Recorder()
    _runner(tmp_path).run(_plan(rec))
    rec.fail = "b"
    with pytest.raises(StageFailed):
        _runner(tmp_path).run(_plan(rec, b_key="b2"))
    assert json.loads((tmp_path / "work" / "b" / "result.json").read_text()) == {"stage": "b"}
    assert StageCache(tmp_path / "work").lookup("b", "anything") is None


def test_a_stage_before_its_inputs_is_refused(tmp_path):
    rec = Recorder()
    with pytest.raises(ValueError, match="runs before its inputs"):
        _runner(tmp_path).run([rec.stage("b", after=["a"]), rec.stage("a")])


def test_fingerprints_ignore_key_order_and_see_file_changes(tmp_path):
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "x.csv").write_text("a\n1\n")
    (logs / ".hidden").write_text("ignored")
    before = files_fingerprint([logs])
    assert [Path(p).name for p, _, _ in before] == ["x.csv"]
    (logs / "x.csv").write_text("a\n1\n2\n")
    assert files_fingerprint([logs]) != before


def test_an_always_stage_runs_every_time_and_keeps_the_rest_cached(tmp_path):
    rec = Recorder()

    def plan() -> list[StageSpec]:
        a, b = rec.stage("a", key="a1"), rec.stage("b", after=["a"])
        return [a, StageSpec(b.name, b.title, b.run, after=b.after, always=True)]

    _runner(tmp_path).run(plan())
    rec.calls.clear()
    outcomes = _runner(tmp_path).run(plan())
    assert rec.calls == ["b"]
    assert outcomes["a"].cached and not outcomes["b"].cached


@pytest.fixture
def two_packages(tmp_path, monkeypatch):
    """Two importable packages, ``scope_up`` and ``scope_down``, in a fresh directory."""
    root = tmp_path / "src"
    for name in ("scope_up", "scope_down"):
        (root / name / "sub").mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
        (root / name / "sub" / "model.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(root))
    code_fingerprint.cache_clear()
    yield root
    code_fingerprint.cache_clear()


def _edit(path: Path, text: str) -> None:
    path.write_text(text)
    code_fingerprint.cache_clear()


def test_code_fingerprint_sees_only_its_scope(two_packages):
    model = two_packages / "scope_down" / "sub" / "model.py"
    up = code_fingerprint(("scope_up",))
    down = code_fingerprint(("scope_down/sub",))
    one_file = code_fingerprint(("scope_down/sub/model.py",))
    _edit(model, "VALUE = 2\n")
    assert code_fingerprint(("scope_up",)) == up
    assert code_fingerprint(("scope_down/sub",)) != down
    assert code_fingerprint(("scope_down/sub/model.py",)) != one_file


def test_code_fingerprint_patterns_cover_every_matching_file(two_packages):
    sub = two_packages / "scope_down" / "sub"
    before = code_fingerprint(("scope_down/sub/mod*.py",))
    _edit(sub / "model.py", "VALUE = 5\n")
    edited = code_fingerprint(("scope_down/sub/mod*.py",))
    assert edited != before
    _edit(sub / "module_two.py", "OTHER = 1\n")
    assert code_fingerprint(("scope_down/sub/mod*.py",)) != edited
    with pytest.raises(ValueError, match="no Python file matches"):
        code_fingerprint(("scope_down/sub/nothing*.py",))


def test_code_fingerprint_names_a_missing_scope_entry(two_packages):
    with pytest.raises(ValueError, match="scope_up/nowhere"):
        code_fingerprint(("scope_up/nowhere",))
    with pytest.raises(ValueError, match="no package"):
        code_fingerprint(("no_such_package_here",))


def test_editing_downstream_code_keeps_upstream_stages_cached(tmp_path, two_packages):
    rec = Recorder()

    def plan() -> list[StageSpec]:
        return [rec.stage("a", code=("scope_up",)),
                rec.stage("b", after=["a"], code=("scope_up", "scope_down"))]

    _runner(tmp_path).run(plan())
    rec.calls.clear()
    _edit(two_packages / "scope_down" / "sub" / "model.py", "VALUE = 3\n")
    outcomes = _runner(tmp_path).run(plan())
    assert rec.calls == ["b"]
    assert outcomes["a"].cached
    rec.calls.clear()
    _edit(two_packages / "scope_up" / "sub" / "model.py", "VALUE = 4\n")
    _runner(tmp_path).run(plan())
    assert rec.calls == ["a", "b"]


def _allocating(name: str, mib: int, after=()) -> StageSpec:
    """A stage that touches ``mib`` MiB of memory, then frees it."""

    def run(out: Path) -> dict:
        block = bytearray(mib * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])
        del block
        (out / "done").write_text("yes")
        return {}

    return StageSpec(name, f"stage {name}", run, after=tuple(after))


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_each_stage_records_its_own_peak_memory(tmp_path):
    outcomes = _runner(tmp_path).run([_allocating("big", 300), _allocating("small", 10,
                                                                           after=["big"])])
    big, small = outcomes["big"].memory, outcomes["small"].memory
    assert big["peak_rss_mib"] >= big["rss_start_mib"] + 250
    # The high-water mark is reset at each stage's start: the big stage's peak is not repeated.
    assert small["peak_rss_mib"] < big["peak_rss_mib"] - 200
    record = json.loads((tmp_path / "work" / "stages" / "big.json").read_text())
    assert record["memory"] == big
    cached = _runner(tmp_path).run([_allocating("big", 300), _allocating("small", 10,
                                                                         after=["big"])])
    assert cached["big"].cached and cached["big"].memory == big


def test_a_child_process_peak_counts_for_the_stage_that_ran_it(tmp_path):
    import resource
    import subprocess
    import sys

    # only a child peak above every earlier child's counts: go 400 MiB above them
    size = int(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024) + 400

    def run(out: Path) -> dict:
        subprocess.run([sys.executable, "-c", f"b = bytearray({size} * 2**20); b[::4096] = "
                        "b'x' * len(b[::4096])"], check=True)
        return {}

    outcomes = _runner(tmp_path).run([StageSpec("child", "child", run)])
    assert outcomes["child"].memory["children_peak_mib"] >= size


def _busy(name: str, seconds: float, child: bool = False) -> StageSpec:
    """A stage that keeps a CPU busy for ``seconds``, itself or in a child process."""

    def run(out: Path) -> dict:
        import subprocess
        import sys
        import time

        spin = ("import time\nt = time.process_time()\n"
                f"while time.process_time() - t < {seconds}: pass")
        if child:
            subprocess.run([sys.executable, "-c", spin], check=True)
        else:
            started = time.process_time()
            while time.process_time() - started < seconds:
                pass
        return {}

    return StageSpec(name, f"stage {name}", run)


@pytest.mark.parametrize("isolate", [False, True] if can_fork() else [False])
def test_each_stage_records_its_cpu_seconds_and_its_children_s(tmp_path, isolate):
    runner = _isolated(tmp_path) if isolate else _runner(tmp_path)
    outcomes = runner.run([_busy("own", 0.3), _busy("child", 0.3, child=True)])
    assert 0.3 <= outcomes["own"].memory["cpu_s"] < 1.5
    assert 0.3 <= outcomes["child"].memory["cpu_s"] < 2.5  # the child's start-up counts too
    record = json.loads((tmp_path / "work" / "stages" / "own.json").read_text())
    assert record["memory"]["cpu_s"] == outcomes["own"].memory["cpu_s"]


def _isolated(tmp_path: Path) -> StageRunner:
    return StageRunner(StageCache(tmp_path / "work"), Console(file=open("/dev/null", "w")),
                       isolate=True)


@pytest.mark.skipif(not can_fork(), reason="needs fork")
def test_an_isolated_stage_returns_its_info_and_leaves_its_memory_behind(tmp_path):
    before = _rss_mib()
    outcomes = _isolated(tmp_path).run([_allocating("big", 300),
                                        _allocating("small", 10, after=["big"])])
    assert _rss_mib() < before + 100  # the 300 MiB were the child's
    assert outcomes["big"].memory["peak_rss_mib"] >= outcomes["big"].memory["rss_start_mib"] + 250
    assert outcomes["small"].memory["peak_rss_mib"] < outcomes["big"].memory["peak_rss_mib"] - 200
    assert (outcomes["small"].output_dir / "done").read_text() == "yes"
    rec = Recorder()
    outcomes = _isolated(tmp_path / "again").run([rec.stage("a", key="k")])
    assert outcomes["a"].info == {"stage": "a"}
    assert rec.calls == []  # it ran in the child, whose list this is not


@pytest.mark.skipif(not can_fork(), reason="needs fork")
def test_an_isolated_stage_failure_raises_the_original_exception_and_resumes(tmp_path):
    rec = Recorder()
    rec.fail = "b"
    with pytest.raises(StageFailed) as failed:
        _isolated(tmp_path).run(_plan(rec))
    assert failed.value.stage.name == "b"
    assert isinstance(failed.value.error, RuntimeError)
    assert str(failed.value.error) == "b broke"
    assert not (tmp_path / "work" / "b").exists()
    assert (tmp_path / "work" / "stages" / "a.json").is_file()


class _Unpicklable(Exception):
    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} and {second}")


@pytest.mark.skipif(not can_fork(), reason="needs fork")
def test_an_unpicklable_error_and_a_killed_stage_are_reported(tmp_path):
    import os
    import signal

    def odd(out: Path) -> dict:
        raise _Unpicklable("one", "two")

    def killed(out: Path) -> dict:
        os.kill(os.getpid(), signal.SIGKILL)
        return {}

    with pytest.raises(StageFailed, match="_Unpicklable: one and two"):
        _isolated(tmp_path).run([StageSpec("odd", "odd", odd)])
    with pytest.raises(StageFailed, match="signal 9") as failed:
        _isolated(tmp_path).run([StageSpec("killed", "killed", killed)])
    assert isinstance(failed.value.error, StageProcessDied)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

