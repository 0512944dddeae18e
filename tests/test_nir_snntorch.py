"""The NIR export runs in snnTorch (the NIR consumer users have): imported with snnTorch's
own reader, run T steps per decision, it computes what the emulator computes under NIR's
semantics (reset to 0, every decision from 0; docs/nir.md), to float rounding."""
import numpy as np
import pytest

from loihi_deploy.sim_backend.snntorch_nir import snntorch_available

AVAILABLE, WHY = snntorch_available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=WHY)


@pytest.fixture(scope="module")
def cheetah_states():
    from loihi_deploy.api import load_ann
    from loihi_deploy.runtime.closed_loop import AnnController, run_episodes
    rollout = run_episodes(AnnController(load_ann("halfcheetah_v5_td3")), "HalfCheetah-v5",
                           [100], max_steps=1000, record=True)
    return rollout.observations[0]


@pytest.mark.parametrize("neuron", ["if", "cuba"])
def test_snntorch_runs_the_export_as_the_emulator_does(tmp_path, cheetah_states, neuron):
    import loihi_deploy
    from loihi_deploy.compiler.export_nir import nir_semantics
    from loihi_deploy.sim_backend.emulator import Emulator
    from loihi_deploy.sim_backend.snntorch_nir import SnnTorchController
    graph = loihi_deploy.compile("halfcheetah_v5_td3", timesteps=16, neuron=neuron,
                                 calib_episodes=1)
    path = loihi_deploy.export(graph, tmp_path / "policy.nir")
    in_snntorch = SnnTorchController(path).act(cheetah_states)
    emulator = Emulator(nir_semantics(graph), len(cheetah_states))
    emulator.reset()
    expected = emulator.act(cheetah_states)
    assert np.abs(in_snntorch - expected).max() < 1e-12
    assert np.abs(expected).max() > 0.1   # the actions are not trivially zero


def test_snntorch_drives_the_env_in_closed_loop(tmp_path):
    import loihi_deploy
    from loihi_deploy.compiler.export_nir import nir_semantics
    from loihi_deploy.runtime.closed_loop import run_episodes
    from loihi_deploy.sim_backend.emulator import Emulator
    from loihi_deploy.sim_backend.snntorch_nir import SnnTorchController
    graph = loihi_deploy.compile("inverted_double_pendulum_v5_td3", timesteps=8, calib_episodes=1)
    path = loihi_deploy.export(graph, tmp_path / "policy.nir")
    seeds = [100, 101]
    mine = run_episodes(Emulator(nir_semantics(graph), 2), graph.env_id, seeds).returns
    theirs = run_episodes(SnnTorchController(path), graph.env_id, seeds).returns
    np.testing.assert_allclose(theirs, mine, rtol=1e-6)
