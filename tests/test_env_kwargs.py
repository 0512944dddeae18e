"""Env ids mean gymnasium's defaults; variants travel as env_kwargs (docs/environments.md)
through policy metadata, compile, the bundle, run, check and the CLI."""
import subprocess
import sys

import h5py
import numpy as np
import pytest

import loihi_deploy
from loihi_deploy.compiler.bundle import load_bundle, save_bundle, write_header
from loihi_deploy.compiler.frontend import PolicyLoadError
from loihi_deploy.runtime.envs import env_spaces, make_env

NO_CONTACT = {"include_cfrc_ext_in_observation": False}


def test_env_ids_are_gymnasium_defaults():
    assert env_spaces("Ant-v5").obs_dim == 105            # gymnasium's default Ant-v5
    assert env_spaces("Ant-v5", NO_CONTACT).obs_dim == 27


def test_an_unknown_env_keyword_is_named():
    with pytest.raises(ValueError, match="bogus"):
        make_env("Hopper-v5", {"bogus": 1})


def test_a_default_sb3_ant_model_compiles_and_runs(tmp_path):
    """An SB3 TD3 model made on gym.make('Ant-v5') (105 observations), compiled as users have
    it, with no env_kwargs anywhere."""
    import gymnasium as gym
    import stable_baselines3 as sb3
    model = sb3.TD3("MlpPolicy", gym.make("Ant-v5"), seed=0, device="cpu",
                    policy_kwargs={"net_arch": [32, 32]}, buffer_size=10)
    model.save(tmp_path / "ant.zip")
    graph = loihi_deploy.compile(tmp_path / "ant.zip", "Ant-v5", timesteps=4, calib_episodes=1,
                                 output=tmp_path / "ant.h5")
    assert graph.obs_dim == 105 and graph.env_kwargs == {}
    run = loihi_deploy.run(tmp_path / "ant.h5", episodes=1)
    assert run.lengths[0] > 0 and np.isfinite(run.returns[0])


def test_the_bundled_ant_policy_carries_its_variant(tmp_path):
    graph = loihi_deploy.compile("ant_v5_td3", timesteps=4, calib_episodes=1,
                                 output=tmp_path / "ant27.h5")
    assert graph.env_kwargs == NO_CONTACT
    back = load_bundle(tmp_path / "ant27.h5")
    assert back.env_kwargs == NO_CONTACT
    assert loihi_deploy.run(back, episodes=1).lengths[0] > 0
    with pytest.raises(PolicyLoadError, match="env_kwargs"):   # the default Ant-v5 is 105-dim
        loihi_deploy.compile("ant_v5_td3", env_kwargs={}, timesteps=4, calib_episodes=1)


def test_bundles_from_before_env_kwargs_keep_their_meaning(tmp_path):
    """An Ant-v5 bundle with 27 inputs and no env_kwargs attribute was compiled when the
    toolchain made Ant-v5 without contact forces: it loads with that variant."""
    graph = loihi_deploy.compile("ant_v5_td3", timesteps=4, calib_episodes=1)
    path = save_bundle(graph, tmp_path / "old.h5")
    with h5py.File(path, "a") as f:
        del f.attrs["env_kwargs"]
    write_header(path)
    assert load_bundle(path).env_kwargs == NO_CONTACT


def test_cli_env_kwargs(tmp_path):
    cli = [sys.executable, "-m", "loihi_deploy"]
    bad = subprocess.run([*cli, "compile", "ant_v5_td3", "--env-kwargs", "[1]", "-o",
                          str(tmp_path / "x.h5")], capture_output=True, text=True)
    assert bad.returncode == 2 and "expected a JSON object" in bad.stderr
    out = subprocess.run([*cli, "compile", "ant_v5_td3", "--env", "Ant-v5", "--env-kwargs",
                          '{"include_cfrc_ext_in_observation": false}', "-T", "4",
                          "--calib-episodes", "1", "-o", str(tmp_path / "a.h5")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "include_cfrc_ext_in_observation=False" in out.stdout
    run = subprocess.run([*cli, "run", str(tmp_path / "a.h5"), "--episodes", "1"],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "Ant-v5 (include_cfrc_ext_in_observation=False)" in run.stdout
    wrong = subprocess.run([*cli, "run", str(tmp_path / "a.h5"), "--env-kwargs", "{}"],
                           capture_output=True, text=True)
    assert wrong.returncode != 0 and "105 observations" in wrong.stderr


def test_derived_ids_are_registered_with_gymnasium():
    import gymnasium as gym
    env = gym.make("InvertedPendulum-v5-repeat2")
    assert env.observation_space.shape == (4,)
    env.close()
