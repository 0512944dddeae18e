"""An env that raises mid-episode, NaN observations, observations far outside calibration."""
import json

import numpy as np
import pytest

from loihi_deploy.compiler.ir import MembranePolicy
from loihi_deploy.api import compile_policy, load_ann, run_backend
from loihi_deploy.cli import main
from loihi_deploy.runtime.closed_loop import AnnController, NonFiniteObservation, run_episodes
from tests.reliability.faulty_envs import register

POLICY = "inverted_double_pendulum_v5_td3"


def test_env_raising_mid_episode_keeps_partial_results_marked():
    env = register("FailAt30-v0", fail_at=30)
    ann = load_ann(POLICY, None)
    rollout = run_episodes(AnnController(ann), env, [1, 2])
    assert rollout.failed.tolist() == [True, True]
    assert "simulated sensor failure" in rollout.errors[0] and rollout.lengths.tolist() == [29, 29]
    assert np.all(rollout.returns > 0)  # partial returns kept


def test_cli_run_marks_failed_episodes_and_exits_3(tmp_path, capsys):
    env = register("FailAt20-v0", fail_at=20)
    bundle = tmp_path / "b.h5"
    assert main(["compile", POLICY, "--env", "InvertedDoublePendulum-v5", "-T", "4",
                 "--calib-episodes", "1", "-o", str(bundle)]) == 0
    with pytest.raises(SystemExit) as info:
        main(["run", str(bundle), "--env", env, "--episodes", "2", "--json",
              str(tmp_path / "r.json")])
    assert info.value.code == 3
    assert "PARTIAL: episode with reset seed 100 stopped" in capsys.readouterr().err
    out = json.loads((tmp_path / "r.json").read_text())
    assert all("simulated sensor failure" in e for e in out["episode_errors"])


def test_nan_observation_raises_by_default_and_can_be_zeroed():
    env = register("NanAt10-v0", nan_at=10)
    ann = load_ann(POLICY, None)
    with pytest.raises(NonFiniteObservation, match="non-finite observation in row 0 .* step 10"):
        run_episodes(AnnController(ann), env, [0])
    rollout = run_episodes(AnnController(ann), env, [0], max_steps=30, nan_policy="zero")
    assert rollout.lengths[0] >= 10 and not rollout.failed.any()


@pytest.mark.lava
def test_out_of_range_observations_clip_identically_on_lava_and_emulator():
    env = register("Scaled20-v0", obs_scale=20.0)
    graph = compile_policy(load_ann(POLICY, None), "InvertedDoublePendulum-v5", 4,
                           MembranePolicy("crpi", 0.5), calib_episodes=1, profile="fixed")
    on_emulator = run_backend(graph, env, 1, backend="emulator", profile="fixed")
    on_lava = run_backend(graph, env, 1, backend="lava", profile="fixed")
    assert on_emulator.input_clips == on_lava.input_clips > 0
    assert on_emulator.returns[0] == on_lava.returns[0]
    assert on_emulator.saturations == on_lava.saturations
