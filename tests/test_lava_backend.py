"""Lava backend: closed-loop bit-exactness with the emulator, bounded failure, no leaks."""

import numpy as np
import pytest

from loihi_deploy.compiler.ir import MembranePolicy, NeuronModel
from loihi_deploy.api import compile_policy, load_ann
from loihi_deploy.runtime.closed_loop import run_episodes
from loihi_deploy.runtime.lava_bridge import LavaController, loihi_available
from loihi_deploy.sim_backend.emulator import Emulator

pytestmark = pytest.mark.lava
IDP = ("inverted_double_pendulum_v5_td3", "InvertedDoublePendulum-v5")


def _graph(policy, env, T, membrane, profile="fixed", neuron=NeuronModel()):
    return compile_policy(load_ann(policy, env), env, T, membrane, calib_episodes=2,
                          profile=profile, neuron=neuron)


def _both_backends(graph, env, profile, steps, seed=3):
    with LavaController(graph, profile) as lava:
        lava_run = run_episodes(lava, env, [seed], max_steps=steps, record=True)
        latencies = list(lava.latencies_s)
    emulator = Emulator(graph, 1, profile=profile, sum_order="lava")
    emu_run = run_episodes(emulator, env, [seed], max_steps=steps, record=True)
    return lava_run, emu_run, latencies


@pytest.mark.parametrize("membrane", [MembranePolicy("crpi", 0.5), MembranePolicy("vanilla"),
                                      MembranePolicy("free")], ids=str)
@pytest.mark.parametrize("profile", ["fixed", "float"])
def test_closed_loop_actions_identical_to_emulator(profile, membrane):
    graph = _graph(*IDP, 4, membrane)
    lava_run, emu_run, latencies = _both_backends(graph, IDP[1], profile, steps=25)
    assert lava_run.lengths[0] == emu_run.lengths[0] == len(latencies) >= 5
    np.testing.assert_array_equal(lava_run.actions, emu_run.actions)
    assert lava_run.returns[0] == emu_run.returns[0]


@pytest.mark.parametrize("neuron", ["snm", "mt:4", "dc:4", "dc-if", "mt:7"])
def test_every_neuron_model_is_bit_exact_in_fixed_point(neuron):
    """Signed / multi-level events travel as graded spikes through stock Dense; DC's input
    arrives once and its running means are integer state: Lava == emulator, action for action."""
    graph = _graph(*IDP, 3, MembranePolicy("crpi", 0.5), neuron=NeuronModel.parse(neuron))
    lava_run, emu_run, _ = _both_backends(graph, IDP[1], "fixed", steps=25)
    assert lava_run.lengths[0] == emu_run.lengths[0] >= 5
    np.testing.assert_array_equal(lava_run.actions, emu_run.actions)


def test_8bit_weights_are_bit_exact_too(neuron="dc:4"):
    """weight_bits 8 (one Dense per layer) and the default split weights (two, high and low
    byte, summed by the neuron's InPort) both run on Lava action for action."""
    from loihi_deploy.compiler.quantize import quantize
    from loihi_deploy.sim_backend.lava_graph import emit_lava
    graph = _graph(*IDP, 3, MembranePolicy("crpi", 0.5), neuron=NeuronModel.parse(neuron))
    assert len(emit_lava(graph).denses) == 2 * (len(graph.hidden) + 1)
    graph8 = quantize(graph, np.asarray(graph.calibration["obs_absmax"]), weight_bits=8)
    assert len(emit_lava(graph8).denses) == len(graph.hidden) + 1
    lava_run, emu_run, _ = _both_backends(graph8, IDP[1], "fixed", steps=25)
    assert lava_run.lengths[0] == emu_run.lengths[0] >= 5
    np.testing.assert_array_equal(lava_run.actions, emu_run.actions)


def test_mt_float_profile_matches_emulator_in_lava_order():
    graph = _graph(*IDP, 2, MembranePolicy("free"), neuron=NeuronModel("dc", 3))
    lava_run, emu_run, _ = _both_backends(graph, IDP[1], "float", steps=25)
    np.testing.assert_array_equal(lava_run.actions, emu_run.actions)


@pytest.mark.slow
def test_halfcheetah_200_decisions_fixed_crpi_bit_exact(reference_actor):
    env = "HalfCheetah-v4"
    graph = compile_policy(load_ann(str(reference_actor("TD3_HalfCheetah-v4_actor.pt")), env),
                           env, 8, MembranePolicy("crpi", 0.5), profile="fixed")
    lava_run, emu_run, _ = _both_backends(graph, env, "fixed", steps=200, seed=100)
    np.testing.assert_array_equal(lava_run.actions, emu_run.actions)
    lava_run, emu_run, _ = _both_backends(graph, env, "float", steps=200, seed=100)
    assert np.abs(lava_run.actions - emu_run.actions).max() <= 1e-6


def test_pauses_between_episodes_keep_every_decision_aligned(monkeypatch):
    """Lava runs continuously and pauses for every reset and counter read. Wherever a pause
    lands (forced here: every third reset's pause request is 50 ms late, so Lava runs zero-
    input decisions and pauses mid-decision, with a zero payload left unread), the next
    decision starts at phase 0 on its own payload: 25 episodes of random length, actions and
    saturation counts equal the emulator's."""
    import time
    graph = _graph(*IDP, 2, MembranePolicy("crpi", 0.5), neuron=NeuronModel.parse("dc:4"))
    emulator = Emulator(graph, 1, profile="fixed")
    rng = np.random.default_rng(0)
    with LavaController(graph, "fixed") as lava:
        process = lava.net.host_input
        pause = type(process).pause
        for episode in range(25):
            if episode % 3 == 1:
                monkeypatch.setattr(process, "pause", lambda: (time.sleep(0.05), pause(process)))
            lava.reset()
            monkeypatch.undo()
            emulator.reset()
            for _ in range(int(rng.integers(1, 5))):
                obs = rng.normal(size=(1, graph.obs_dim))
                np.testing.assert_array_equal(lava.act(obs), emulator.act(obs))
            if episode % 4 == 2:   # read mid-episode, then go on
                assert lava.fixed_point_events()[0] == emulator.fixed_point_events()[0]
                obs = rng.normal(size=(1, graph.obs_dim))
                np.testing.assert_array_equal(lava.act(obs), emulator.act(obs))


def test_loihi_backend_explains_itself():
    available, reason = loihi_available()
    assert not available and "lava-loihi" in reason


def test_verify_command_reports_identical_actions(tmp_path, capsys):
    from loihi_deploy.cli import main
    bundle = tmp_path / "idp.h5"
    assert main(["compile", IDP[0], "--env", IDP[1], "-T", "4", "--calib-episodes", "1",
                 "--profile", "fixed", "-o", str(bundle)]) == 0
    assert main(["verify", str(bundle), "--decisions", "30"]) == 0
    out = capsys.readouterr().out
    assert "30 decisions" in out and "actions identical: True" in out
