"""Whatever signal ends a Lava run, at whatever phase, none of its processes and none of its
/dev/shm segments outlive it by more than a few seconds (runtime.lava_reaper,
docs/reliability.md). Signals are sent as a terminal sends them: Ctrl-C to the whole process
group, SIGTERM to the process (as `timeout` does), SIGKILL to the process."""
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "loihi_deploy.cli"]
SETTLE_S = 20.0    # the bound tested: GRACE_S (12 s, reached only on a loaded machine) + clean-up


def _descendants(root: int) -> set[int]:
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    parents[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, frontier = set(), {root}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _is_lava_child(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"lava_reaper" not in f.read()
    except OSError:
        return False


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    path = tmp_path_factory.mktemp("signals") / "idp.h5"
    subprocess.run([*CLI, "compile", "inverted_double_pendulum_v5_td3", "--env",
                    "InvertedDoublePendulum-v5", "-T", "4", "--calib-episodes", "1",
                    "--profile", "fixed", "-o", str(path)], check=True, cwd=ROOT,
                   capture_output=True)
    return path


def run_and_signal(bundle, phase: str, how: str) -> dict:
    """Start a long Lava run in its own session, signal it at `phase` ("startup": Lava's
    processes exist but no decision has run; "running": decisions are running), and report
    what is left SETTLE_S later."""
    shm_before = set(os.listdir("/dev/shm"))
    proc = subprocess.Popen([*CLI, "run", str(bundle), "--backend", "lava", "--episodes", "200"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    running = threading.Event()

    def read_stderr():
        tail = b""
        for chunk in iter(lambda: os.read(proc.stderr.fileno(), 4096), b""):
            tail = (tail + chunk)[-4096:]
            if re.search(rb"[0-9]step/s", tail):
                running.set()

    threading.Thread(target=read_stderr, daemon=True).start()
    deadline, seen = time.monotonic() + 90, set()
    while time.monotonic() < deadline:
        seen |= _descendants(proc.pid)
        lava = [p for p in seen if _is_lava_child(p)]
        if phase == "startup" and len(lava) >= 2 and not running.is_set():
            break
        if phase == "running" and running.is_set():
            break
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail(f"the Lava run never reached phase {phase}")
    seen |= _descendants(proc.pid)
    sent = time.monotonic()
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    elif how == "sigterm":
        proc.send_signal(signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGKILL)
    try:
        proc.wait(timeout=SETTLE_S)
    except subprocess.TimeoutExpired:
        pass
    exited_after = time.monotonic() - sent if proc.poll() is not None else None
    while time.monotonic() - sent < SETTLE_S and (
            any(_alive(p) for p in seen) or set(os.listdir("/dev/shm")) - shm_before):
        time.sleep(0.1)
    left = sorted(p for p in seen if _alive(p))
    segments = sorted(set(os.listdir("/dev/shm")) - shm_before)
    if proc.poll() is None:
        proc.kill()
    return {"main_exited_after_s": exited_after, "processes_seen": len(seen),
            "processes_left": left, "segments_left": segments,
            "settled_after_s": time.monotonic() - sent}


@pytest.mark.lava
@pytest.mark.parametrize("phase,how", [("startup", "ctrl-c"), ("running", "ctrl-c"),
                                       ("startup", "sigterm"), ("running", "sigterm"),
                                       ("running", "sigkill")])
def test_no_lava_process_or_segment_outlives_the_run(bundle, phase, how):
    report = run_and_signal(bundle, phase, how)
    print(phase, how, report)
    assert report["processes_seen"] >= 3, report          # Lava had started its processes
    assert report["processes_left"] == [], report
    assert report["segments_left"] == [], report
    if how != "sigkill":
        assert report["main_exited_after_s"] is not None, report
