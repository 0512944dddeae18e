"""Clean-up guarantee for Lava runs (docs/reliability.md): whatever ends the process that runs
Lava (a terminal's Ctrl-C, SIGTERM, SIGKILL, a crash), none of its Lava processes and none of
their /dev/shm segments outlive it by more than a few seconds.

Lava runs every Process in its own OS process and talks to them through shared memory. A
process killed with SIGKILL cannot clean up, so the clean-up is done from outside:

- `start()` (called before Lava forks its first process) starts this module as a watcher in
  its own session (a terminal's Ctrl-C does not reach it), connected to the parent by a pipe.
- Every 0.2 s the watcher records the parent's descendants (pid and start time) and the
  /dev/shm files they or the parent map or hold open.
- When the pipe closes (the parent exited, however it ended) the watcher kills the recorded
  processes that are still alive (same pid and start time) and unlinks the recorded segments
  that still exist, then any /dev/shm segment created during the run (after the watcher
  started) that no process on the machine maps or holds open any more, then exits. After a
  normal close there is nothing left to do.
- Processes forked while Lava starts ignore SIGINT (the parent stops them in order) and are
  killed by the kernel when their parent dies (PR_SET_PDEATHSIG).

    python -m loihi_deploy.runtime.lava_reaper PARENT_PID     (started by start())
"""
from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time

POLL_S = 0.2
_watcher: subprocess.Popen | None = None
_forking_for_lava = False


def start() -> None:
    """Start the watcher once per process; install the fork hook for Lava's children."""
    global _watcher
    if _watcher is not None and _watcher.poll() is None:
        return
    if not os.path.isdir("/proc"):
        return          # not Linux: no watcher (Lava's own shutdown still runs)
    _watcher = subprocess.Popen([sys.executable, "-m", __name__, str(os.getpid())],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True,
                                close_fds=True)
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def lava_children():
    """Processes forked inside this block (Lava's start-up) ignore SIGINT and die with the
    process that forked them."""
    global _forking_for_lava
    _forking_for_lava = True
    try:
        yield
    finally:
        _forking_for_lava = False


def _after_fork_in_child() -> None:
    if not _forking_for_lava:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(Exception):
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG


# -- the watcher (runs in its own process) ----------------------------------------------------
def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _descendants(root: int) -> list[int]:
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            ppid = _parent_of(int(name))
            if ppid is not None:
                parents[int(name)] = ppid
    found, frontier = [], {root}
    while frontier:
        children = [p for p, pp in parents.items() if pp in frontier and p not in found]
        found += children
        frontier = set(children)
    return found


def _shm_files(pid: int) -> set[str]:
    """/dev/shm files that process `pid` maps or holds open."""
    found = set()
    try:
        with open(f"/proc/{pid}/maps") as f:
            found |= {line.split(maxsplit=5)[5].strip() for line in f
                      if "/dev/shm/" in line and len(line.split(maxsplit=5)) == 6}
    except OSError:
        pass
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("/dev/shm/"):
                    found.add(target)
    except OSError:
        pass
    return found


def _orphaned_segments(since: float) -> set[str]:
    """/dev/shm segments created after `since` that no process maps or holds open."""
    try:
        recent = {f"/dev/shm/{n}" for n in os.listdir("/dev/shm")
                  if os.stat(f"/dev/shm/{n}").st_ctime >= since}
    except OSError:
        return set()
    if not recent:
        return set()
    in_use = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            in_use |= _shm_files(int(name))
    return recent - in_use


def watch(parent: int) -> None:
    """Record the parent's descendants and shared-memory files until stdin closes, then
    remove what is left."""
    processes: dict[int, str] = {}
    segments: set[str] = set()
    own = os.getpid()
    started = time.time() - 1.0
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], POLL_S)
        if ready and not os.read(sys.stdin.fileno(), 4096):
            break                                   # the parent is gone
        for pid in _descendants(parent):
            if pid != own:
                processes.setdefault(pid, _start_time(pid) or "")
        for pid in (parent, *processes):
            segments |= _shm_files(pid)
    alive = [pid for pid, started in processes.items() if started and _start_time(pid) == started]
    for pid in alive:
        segments |= _shm_files(pid)
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_start_time(p) for p in alive):
        time.sleep(0.05)
    for path in segments | _orphaned_segments(started):
        if path.startswith("/dev/shm/") and "/" not in path[len("/dev/shm/"):]:
            with contextlib.suppress(OSError):
                os.unlink(path)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch(int(sys.argv[1]))
