"""tools/replay_kernels.py, the portability check of docs/reproducibility.md, still runs: one
kernel set, one bundled policy with env_kwargs (Ant-v5) and one without, through the worker
process it starts."""
import pathlib
import subprocess
import sys

TOOL = pathlib.Path(__file__).resolve().parents[1] / "tools" / "replay_kernels.py"


def test_replay_tool_runs_and_agrees(tmp_path):
    out = tmp_path / "replay.md"
    run = subprocess.run([sys.executable, str(TOOL), "--kernels", "default",
                          "--torch-capability", "default",   # runs on any x86 CPU
                          "--policies", "ant_v5_td3,inverted_pendulum_v5_td3", "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    table = out.read_text()
    assert "| ant_v5_td3 | default |" in table
    assert "| inverted_pendulum_v5_td3 | default |" in table
    assert "| NO |" not in table
    assert "--kernels default" in table      # the header names the command that made it
