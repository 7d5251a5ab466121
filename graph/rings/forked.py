"""Run one function in a forked child process while the caller goes on; collect its result later.

The candidate search is mostly single-threaded NumPy, SciPy and igraph work; an independent step
(the Leiden localities, minutes at a million accounts) runs on a second core this way. The child
inherits the caller's arrays without copying or pickling them; only the result comes back,
pickled into an unnamed temporary file, so the child exits (and gives its memory back) as soon
as it is done, however late the caller asks for the result: through a pipe it waited, holding
all it had allocated, until the caller read. Python's garbage collector is frozen across the
fork (:func:`gc.freeze`), so a collection in the child does not write to, and copy, every page
of objects it inherited; the caller unfreezes them after the fork unless they were frozen before
(a forked pipeline stage: its parent froze them), so that its own later collections do not copy
those pages either. GNU OpenMP's worker threads (PyTorch's, on Linux) are let go before the
fork (:func:`release_openmp_threads`): a child that found its parent's pool would wait for ever
for threads that do not exist in it. Where ``fork`` is missing (not POSIX) the function runs at
once, in the caller.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import pickle
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: ``omp_pause_hard`` of the OpenMP 5 API: stop the worker threads and free their state.
_OMP_PAUSE_HARD = 2


@functools.cache
def _openmp_library(path: str) -> Any:
    """The GNU OpenMP library at ``path`` this process has loaded already (never a new one:
    ``RTLD_NOLOAD``), or None: not loadable (replaced on disk since), or without
    ``omp_pause_resource_all``."""
    try:
        library = ctypes.CDLL(path, mode=getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_LOCAL)
    except OSError:
        return None
    return library if hasattr(library, "omp_pause_resource_all") else None


def release_openmp_threads() -> None:
    """Let go of the calling thread's GNU OpenMP worker pool in every libgomp this process has
    loaded (the next parallel region starts a new one).

    libgomp has no fork handler: a forked child keeps the parent's pool of worker threads, which
    the fork did not copy, and its first parallel region (a PyTorch matrix product, say) waits
    for them for ever. Called before :func:`os.fork`; a no-op where ``/proc/self/maps`` is
    missing or no libgomp is loaded.
    """
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(maxsplit=5)[5].strip().removesuffix(" (deleted)")
                     for line in maps if "libgomp" in line and len(line.split(maxsplit=5)) == 6}
    except OSError:
        return
    for path in sorted(paths):
        library = _openmp_library(path)
        if library is not None:
            library.omp_pause_resource_all(_OMP_PAUSE_HARD)


class ForkedProcessDied(RuntimeError):
    """A forked child ended without a result; :attr:`how` says how (``"signal 9"``, say)."""

    def __init__(self, name: str, how: str) -> None:
        super().__init__(f"{name}: the forked process ended by {how} without a result "
                         "(signal 9: often out of memory)")
        self.how = how


class ForkedCall(Generic[T]):
    """``function(*args)`` in a forked child; :meth:`result` waits for it and returns its value.

    Use as a context manager (or call :meth:`close`): leaving it before :meth:`result` stops
    the child. An exception in the child is raised again by :meth:`result` (the same one when
    it pickles, else a :class:`RuntimeError` with its type, message and traceback); a child that
    dies without a result (a signal, e.g. the out-of-memory killer) raises
    :class:`ForkedProcessDied` naming ``name`` and the signal.

    Examples
    --------
    >>> with ForkedCall("sum", sum, [1, 2, 3]) as pending:
    ...     pending.result()
    6
    """

    def __init__(self, name: str, function: Callable[..., T], *args: Any) -> None:
        self.name = name
        self._pid: int | None = None
        self._file: Any = None
        self._done = False
        self._taken = False
        self._value: T | None = None
        if not hasattr(os, "fork"):
            self._value, self._done = function(*args), True
            return
        sys.stdout.flush()
        sys.stderr.flush()
        # unnamed: nothing is left behind whatever happens to either process
        self._file = tempfile.TemporaryFile(prefix="forked-")  # noqa: SIM115 - result, close
        release_openmp_threads()
        # a caller that froze its objects already (a forked pipeline stage, whose parent froze
        # them) keeps them frozen: unfreezing would hand every object it inherited back to its
        # collector, which then writes to (and copies) their pages at each full collection
        frozen = gc.get_freeze_count() > 0
        if frozen:  # what it made since is frozen for good: its garbage cycles go first
            gc.collect()
        gc.freeze()
        pid = -1
        try:
            pid = os.fork()
        finally:
            if pid != 0 and not frozen:
                gc.unfreeze()
        if pid == 0:  # the child: compute, write, leave without the parent's cleanup
            _run_child(function, args, self._file.fileno())
        self._pid = pid

    def result(self, keep: bool = True) -> T:
        """Wait for the child and return what ``function`` returned (raise what it raised).

        With ``keep`` False the call lets go of the value once returned (the caller's reference
        is then the only one: a large result is freed as soon as the caller drops it, not when
        the call is); asking again raises ``RuntimeError``."""
        if self._done:
            if self._taken:
                raise RuntimeError(f"{self.name}: the result was already taken")
            value, self._taken = self._value, not keep
            if not keep:
                self._value = None
            return value  # type: ignore[return-value]
        assert self._pid is not None
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        with self._file as written:  # closed (and so deleted) whatever happens
            self._file = None
            if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
                how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                       else f"exit code {os.waitstatus_to_exitcode(status)}")
                raise ForkedProcessDied(self.name, how)
            written.seek(0)
            kind, value = pickle.load(written)
        if kind == "error":
            raise value
        self._done, self._taken = True, not keep
        if keep:
            self._value = value
        return value

    def close(self, stop: int = signal.SIGKILL) -> None:
        """Stop the child with the signal ``stop`` if it is still running (nothing to do after
        :meth:`result`)."""
        if self._pid is not None:
            os.kill(self._pid, stop)
            os.waitpid(self._pid, 0)
            self._pid = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> ForkedCall[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _run_child(function: Callable[..., Any], args: tuple[Any, ...], fd: int) -> None:
    """In the forked child: ``function(*args)`` (or the exception it raised) pickled into the
    file ``fd``, then leave at once with exit code 0, or 1 when nothing could be written."""
    code = 1
    try:
        try:
            payload: tuple[str, Any] = ("ok", function(*args))
        except BaseException as exc:  # noqa: BLE001 - sent to the parent, raised there
            payload = ("error", portable_exception(exc))
        with os.fdopen(os.dup(fd), "wb") as out:
            try:
                pickle.dump(payload, out, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # noqa: BLE001 - a result that does not pickle
                out.seek(0)
                out.truncate()
                pickle.dump(("error", portable_exception(exc)), out,
                            protocol=pickle.HIGHEST_PROTOCOL)
        code = 0
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def portable_exception(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError carrying its type, text, traceback."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure to round-trip means: send text instead
        text = "".join(traceback.format_exception(exc))
        return RuntimeError(f"{type(exc).__name__}: {exc}\n{text}")
    return exc
