"""Interrupting a Lava run, and real-time pacing with deadline misses."""
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from loihi_deploy.runtime.pacing import PacedController, control_period_s, pacing_note

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


@pytest.mark.lava
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupting_a_lava_run_stops_cleanly(tmp_path, sig):
    bundle = tmp_path / "idp.h5"
    cli = [sys.executable, "-m", "loihi_deploy.cli"]
    subprocess.run([*cli, "compile", "inverted_double_pendulum_v5_td3", "--env",
                    "InvertedDoublePendulum-v5", "-T", "4", "--calib-episodes", "1",
                    "--profile", "fixed", "-o", str(bundle)], check=True, cwd=ROOT,
                   capture_output=True)
    shm_before = set(os.listdir("/dev/shm"))
    # many episodes, so the run is still going when the signal comes even if they are short
    proc = subprocess.Popen([*cli, "run", str(bundle), "--backend", "lava", "--episodes", "200",
                             "--json", str(tmp_path / "partial.json")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # the signal comes once decisions are running (a progress rate on stderr), not while Lava
    # is still starting: a count of child processes raced with the runtime's start-up
    err_chunks, running = [], threading.Event()

    def read_stderr():
        for chunk in iter(lambda: os.read(proc.stderr.fileno(), 4096), b""):
            err_chunks.append(chunk)
            if re.search(rb"[0-9]step/s", b"".join(err_chunks[-2:])):   # a measured rate
                running.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    assert running.wait(60), "the Lava run never reported progress"
    children = _children_of(proc.pid)
    assert children, "Lava did not start"
    proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run did not stop within 30 s of the signal")
    reader.join(5)
    err = b"".join(err_chunks).decode(errors="replace")
    assert proc.returncode == 130 and "interrupted" in err, err[-3000:]
    partial = json.loads((tmp_path / "partial.json").read_text())
    assert partial["interrupted"] is True and len(partial["returns"]) < 200
    def alive():
        return [pid for pid in children if os.path.exists(f"/proc/{pid}")
                and "Z" not in open(f"/proc/{pid}/stat").read().split()[2]]
    deadline = time.monotonic() + 10     # "a few seconds" (docs/reliability.md)
    while time.monotonic() < deadline and (alive() or set(os.listdir("/dev/shm")) - shm_before):
        time.sleep(0.1)
    assert alive() == [], f"Lava processes left running: {alive()}"
    assert set(os.listdir("/dev/shm")) - shm_before == set()


class _SlowController:
    def __init__(self, delays):
        self.delays, self.k = delays, 0

    def reset(self):
        self.k = 0

    def act(self, obs):
        time.sleep(self.delays[self.k])
        self.k += 1
        return np.full((1, 2), float(self.k))


def test_pacing_counts_deadline_misses_and_holds_the_last_action():
    paced = PacedController(_SlowController([0.0, 0.05, 0.0, 0.05]), period_s=0.02)
    paced.reset()
    start = time.perf_counter()
    actions = [paced.act(np.zeros((1, 3)))[0, 0] for _ in range(4)]
    elapsed = time.perf_counter() - start
    assert paced.misses == 2 and paced.decisions == 4
    assert actions == [1.0, 1.0, 3.0, 3.0]   # late decisions hold the previous action
    assert elapsed >= 2 * 0.02 + 2 * 0.05 - 0.005   # on-time decisions wait out the period


def test_a_paced_run_says_up_front_how_long_it_can_take():
    """A bundle may declare a control period of seconds (frame_skip up to 1000): the period
    and the longest duration are read from the env and said before the run starts."""
    period, decisions = control_period_s("InvertedPendulum-v5", {"frame_skip": 100})
    assert period == pytest.approx(100 * 0.02) and decisions == 1000    # MuJoCo timestep 0.02 s
    note = pacing_note(period, decisions, episodes=3)
    assert "one decision every 2000 ms" in note and "1 h 40 min" in note
    assert "9.3 min" in pacing_note(0.008, 1000, episodes=70)
