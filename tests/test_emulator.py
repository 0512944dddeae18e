"""The batched emulator against a direct per-sample transcription of the official code."""
import numpy as np
import pytest

from loihi_deploy.compiler.calibrate import Calibration
from loihi_deploy.compiler.convert import convert
from loihi_deploy.compiler.ir import MembranePolicy
from loihi_deploy.sim_backend.emulator import Emulator
from tests.conftest import random_ann


def official_style_decisions(ann, thetas, T, alpha, observations):
    """One sample, the official code's loop (MuJoCo/convert.py): spikes of amplitude theta,
    l1(obs) recomputed every step, init/mem/fire kept per neuron, reset() each decision."""
    init = [np.zeros_like(th) for th in thetas]
    mem = [np.zeros_like(th) for th in thetas]
    fire = [np.zeros_like(th) for th in thetas]
    actions, first = [], True
    for obs in observations:
        for l, th in enumerate(thetas):  # reset(): the carry (0 at episode start)
            carry = 0.0 if first else np.maximum(mem[l] - init[l], -th * fire[l])
            init[l] = np.clip(carry * alpha, -0.5 * th, 0.5 * th) + 0.5 * th
            mem[l], fire[l] = init[l].copy(), np.zeros_like(th)
        first = False
        out = np.zeros_like(thetas[-1])
        for _ in range(T):
            x = obs
            for l, (layer, th) in enumerate(zip(ann.hidden, thetas)):
                mem[l] = mem[l] + layer.weight @ x + layer.bias
                spike = (mem[l] - th) > 0
                fire[l] += spike
                x = spike * th
                mem[l] = mem[l] - x
            out += x
        actions.append(ann.head(ann.readout.weight @ (out / T) + ann.readout.bias))
    return np.array(actions)


@pytest.mark.parametrize("alpha", [0.0, 0.4, 1.0])
def test_emulator_matches_official_loop(alpha):
    ann = random_ann()
    rng = np.random.default_rng(3)
    observations = rng.normal(0, 1.5, (25, ann.obs_dim))
    thetas = tuple(np.abs(rng.normal(1.0, 0.3, h.shape[0])) for h in ann.hidden)
    graph = convert(ann, Calibration(thetas, {}), 6, MembranePolicy("crpi", alpha))
    emu = Emulator(graph, 1)
    got = np.array([emu.act(o[None])[0] for o in observations])
    want = official_style_decisions(ann, thetas, 6, alpha, observations)
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_rows_with_different_alphas_are_independent():
    ann = random_ann(seed=5)
    rng = np.random.default_rng(4)
    thetas = tuple(np.abs(rng.normal(1.0, 0.3, h.shape[0])) for h in ann.hidden)
    graph = convert(ann, Calibration(thetas, {}), 4, MembranePolicy("crpi", 0.0))
    alphas = np.array([0.0, 0.3, 0.7, 1.0])
    batch = Emulator(graph, 4, alpha=alphas)
    singles = [Emulator(graph, 1, alpha=a) for a in alphas]
    for _ in range(15):
        obs = rng.normal(size=(4, ann.obs_dim))
        together = batch.act(obs)
        apart = np.concatenate([e.act(obs[i:i + 1]) for i, e in enumerate(singles)])
        # float BLAS kernels differ by batch size in the last bit; the fixed profile is exact
        np.testing.assert_allclose(together, apart, atol=1e-12)


def test_rate_code_approaches_the_ann_with_large_T():
    ann = random_ann(seed=7)
    rng = np.random.default_rng(8)
    obs = rng.normal(size=(64, ann.obs_dim))
    acts = []
    ann.forward(obs, acts)
    cal = Calibration(tuple(a.max(axis=0) for a in acts), {})
    errors = []
    for T in (4, 32, 256):
        emu = Emulator(convert(ann, cal, T), 64)
        errors.append(np.abs(emu.act(obs) - ann.forward(obs)).mean())
    assert errors[2] < errors[1] < errors[0]
    assert errors[2] < 0.02


def test_vanilla_resets_every_decision_and_free_runs_on():
    ann = random_ann(seed=9)
    rng = np.random.default_rng(10)
    thetas = tuple(np.abs(rng.normal(1.0, 0.3, h.shape[0])) for h in ann.hidden)
    obs = rng.normal(size=(1, ann.obs_dim))
    vanilla = Emulator(convert(ann, Calibration(thetas, {}), 3, MembranePolicy("vanilla")), 1)
    free = Emulator(convert(ann, Calibration(thetas, {}), 3, MembranePolicy("free")), 1)
    first = vanilla.act(obs)
    np.testing.assert_array_equal(vanilla.act(obs), first)  # same input -> same output
    for v0, th in zip(vanilla.v0, thetas):
        np.testing.assert_array_equal(v0[0], th / 2)
    np.testing.assert_array_equal(free.act(obs), first)     # first decision identical
    # free-running: the next decision starts where the membrane ended, T=3 steps of
    # constant input after theta/2 for layer 0
    current = ann.hidden[0].weight @ obs[0] + ann.hidden[0].bias
    v = thetas[0] / 2
    for _ in range(3):
        m = v + current
        v = m - thetas[0] * (m > thetas[0])
    np.testing.assert_allclose(free.v0[0][0], v, atol=1e-12)
    assert not np.allclose(free.v0[0][0], thetas[0] / 2)


def test_emulator_rejects_wrong_observation_shape():
    graph = convert(random_ann(), Calibration((np.ones(16), np.ones(12)), {}), 2)
    with pytest.raises(ValueError, match=r"expected observations of shape \(3, 5\)"):
        Emulator(graph, 3).act(np.zeros((3, 4)))


def test_float32_precision_tracks_float64_and_is_refused_where_it_does_not_apply():
    """float32 (the paper's torch precision) changes actions only at float32 rounding on the
    same observations (a membrane within rounding of its threshold may flip a spike, so the
    check is on the typical and the share of differing actions); fixed point and Lava's
    summation order stay exact / float64."""
    ann = random_ann(obs_dim=5, hidden=(32, 24), act_dim=3)
    obs = np.random.default_rng(1).normal(size=(40, 5))
    thetas = [np.quantile(a, 0.99, axis=0) + 1e-3 for a in _activations(ann, obs)]
    graph = convert(ann, Calibration(tuple(thetas), {}), 16, MembranePolicy("crpi", 0.5))
    actions = {}
    for precision in ("float64", "float32"):
        emulator = Emulator(graph, len(obs), precision=precision)
        emulator.reset()
        actions[precision] = np.stack([emulator.act(obs) for _ in range(3)])
    diff = np.abs(actions["float32"] - actions["float64"])
    assert np.median(diff) < 1e-5 and np.mean(diff > 1e-4) < 0.05
    with pytest.raises(ValueError, match="float32 applies to the float profile"):
        Emulator(graph, 2, precision="float32", sum_order="lava")


def _activations(ann, obs):
    activations = []
    ann.forward(obs, activations)
    return activations


@pytest.mark.parametrize("neuron", ["if", "dc:4"])
def test_steps_in_blocks_give_what_one_block_gives(neuron, monkeypatch):
    """Where one layer's event codes would pass CODES_BLOCK_BYTES the emulator runs a decision
    in blocks of steps: in fixed point the actions, event counts and saturation counts are
    exactly those of one block of all T steps."""
    from loihi_deploy.compiler.ir import NeuronModel
    from loihi_deploy.compiler.quantize import quantize
    from loihi_deploy.sim_backend import emulator
    ann = random_ann(obs_dim=7, hidden=(24, 16), act_dim=3, seed=2)
    states = np.random.default_rng(2).normal(0, 2, (400, 7))
    acts = []
    ann.forward(states, acts)
    graph = quantize(convert(ann, Calibration(tuple(a.max(axis=0) for a in acts), {}), 7,
                             MembranePolicy("crpi", 0.5), neuron=NeuronModel.parse(neuron)),
                     np.abs(states).max(axis=0))
    whole = Emulator(graph, 5, profile="fixed")
    monkeypatch.setattr(emulator, "CODES_BLOCK_BYTES", 3 * 5 * 24 * 8)   # blocks of 3 steps
    blocked = Emulator(graph, 5, profile="fixed")
    assert whole.block_steps >= 7 and blocked.block_steps == 3
    for obs in np.random.default_rng(5).normal(0, 2, (12, 5, 7)):
        np.testing.assert_array_equal(whole.act(obs), blocked.act(obs))
        for a, b in zip(whole.last_event_counts, blocked.last_event_counts):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(whole.saturations, blocked.saturations)
    assert sum(c.sum() for c in blocked.last_event_counts) > 0
