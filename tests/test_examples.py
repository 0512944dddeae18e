"""The scripts in examples/ run as a user would run them (small settings)."""
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(args, cwd, timeout=600):
    out = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_gate_an_sb3_model(tmp_path):
    import stable_baselines3 as sb3

    from loihi_deploy.runtime.envs import make_env
    sb3.TD3("MlpPolicy", make_env("InvertedPendulum-v5"), seed=0,
            policy_kwargs={"net_arch": [16, 16]}).save(tmp_path / "model.zip")
    stdout = _run([str(ROOT / "examples/gate_sb3_model.py"), "model.zip", "--env",
                   "InvertedPendulum-v5", "--min-ratio", "0.5", "--episodes", "3"], tmp_path)
    assert "PASS" in stdout and (tmp_path / "gated.h5").exists()


def test_sweep_and_plot(tmp_path):
    stdout = _run([str(ROOT / "examples/sweep_and_plot.py"), "--policy",
                   "inverted_double_pendulum_v5_td3", "-T", "2", "--alphas", "0,1",
                   "--episodes", "2", "--calib-episodes", "1"], tmp_path)
    assert "SNN CRPI a=1" in stdout and (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
@pytest.mark.lava
def test_lava_paced(tmp_path):
    import loihi_deploy
    loihi_deploy.compile("inverted_pendulum_v5_td3", timesteps=2, neuron="mt", levels=2,
                         calib_episodes=1, profile="fixed", output=tmp_path / "ip.h5")
    stdout = _run([str(ROOT / "examples/lava_paced.py"), "ip.h5"], tmp_path)
    assert "deadline misses" in stdout


def test_nir_in_snntorch(tmp_path):
    pytest.importorskip("snntorch", reason="snnTorch is in the dev extra")
    stdout = _run([str(ROOT / "examples/nir_in_snntorch.py"), "--policy",
                   "inverted_double_pendulum_v5_td3", "-T", "4", "--episodes", "2"], tmp_path)
    assert "snnTorch (NIR file)" in stdout and (tmp_path / "policy.nir").exists()
