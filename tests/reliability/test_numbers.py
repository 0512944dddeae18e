"""Numeric edge cases: zero thresholds, extreme weights, determinism."""
import numpy as np
import pytest

from loihi_deploy.compiler.calibrate import Calibration
from loihi_deploy.compiler.convert import convert
from loihi_deploy.compiler.ir import MembranePolicy, SpikingLayer
from loihi_deploy.compiler.quantize import quantize
from loihi_deploy.api import compile_policy, load_ann, run_backend
from loihi_deploy.runtime.closed_loop import episode_seeds, run_episodes
from loihi_deploy.sim_backend.emulator import Emulator
from tests.conftest import random_ann

IDP = ("inverted_double_pendulum_v5_td3", "InvertedDoublePendulum-v5")


def _zero_some_thresholds(graph, every=3):
    hidden = tuple(SpikingLayer(h.synapse, np.where(np.arange(h.threshold.size) % every == 0,
                                                    0.0, h.threshold)) for h in graph.hidden)
    return graph.replace(hidden=hidden)


@pytest.mark.lava
@pytest.mark.parametrize("profile", ["fixed", "float"])
def test_zero_thresholds_behave_identically_on_lava_and_emulator(profile):
    from loihi_deploy.api import verify_on_lava
    graph = compile_policy(load_ann(*IDP), IDP[1], 4, MembranePolicy("crpi", 0.5),
                           calib_episodes=1)
    graph = _zero_some_thresholds(graph)
    graph = quantize(graph, np.asarray(graph.calibration["obs_absmax"]))
    check = verify_on_lava(graph, IDP[1], decisions=20, profile=profile)
    assert check.identical, check


def test_zero_threshold_neurons_contribute_nothing():
    ann = random_ann()
    thetas = (np.zeros(16), np.ones(12))  # the whole first layer silent (never active)
    graph = convert(ann, Calibration(thetas, {}), 4)
    obs = np.random.default_rng(0).normal(size=(5, ann.obs_dim))
    actions = Emulator(graph, 5).act(obs)
    silent = convert(ann, Calibration((np.zeros(16), np.ones(12)), {}), 4)
    np.testing.assert_array_equal(actions, Emulator(silent, 5).act(obs * 100))  # input ignored


@pytest.mark.parametrize("weight_scale", [1e-6, 1e4])
def test_extreme_weights_still_fit_the_fixed_point_ranges(weight_scale):
    ann = random_ann(seed=3)
    ann = type(ann)(tuple(type(h)(h.weight * weight_scale, h.bias * weight_scale)
                          for h in ann.hidden), ann.readout, ann.head)
    states = np.random.default_rng(1).normal(size=(200, ann.obs_dim))
    acts = []
    ann.forward(states, acts)
    graph = quantize(convert(ann, Calibration(tuple(a.max(axis=0) for a in acts), {}), 8),
                     np.abs(states).max(axis=0))
    for q in graph.fixed.hidden:  # FixedLayer validates every range on construction
        assert np.abs(q.weight).max() <= 256 and q.vth_mant.max() <= 2 ** 17 - 1
    assert np.all(np.isfinite(Emulator(graph, 200).act(states)))


def test_same_seed_same_results_across_runs_and_fixed_across_batch_sizes():
    graph = compile_policy(load_ann(*IDP), IDP[1], 4, MembranePolicy("crpi", 0.5),
                           calib_episodes=1, profile="fixed")
    seeds = episode_seeds(100, 3)
    a = run_episodes(Emulator(graph, 3, profile="float"), IDP[1], seeds, max_steps=100).returns
    b = run_episodes(Emulator(graph, 3, profile="float"), IDP[1], seeds, max_steps=100).returns
    np.testing.assert_array_equal(a, b)
    together = run_backend(graph, IDP[1], 3, backend="emulator", profile="fixed").returns
    apart = [run_episodes(Emulator(graph, 1, profile="fixed"), IDP[1], [s]).returns[0]
             for s in seeds]
    np.testing.assert_array_equal(together, apart)


def test_json_outputs_are_strict_and_write_errors_name_the_target(tmp_path):
    """deploy-snn's report held bare NaN, which strict JSON parsers refuse; a write under a
    file named the hidden temp file instead of the output."""
    import json

    from loihi_deploy.compiler.files import atomic_write_text, strict_json
    assert json.loads(strict_json({"ci": [float("nan"), 1.5, float("inf")]})) == \
        {"ci": [None, 1.5, None]}
    (tmp_path / "afile").write_text("")
    with pytest.raises(OSError, match=f"{tmp_path / 'afile' / 'x.json'}: cannot write"):
        atomic_write_text(tmp_path / "afile" / "x.json", "{}")
