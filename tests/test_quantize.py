"""Quantiser: bit budgets, round-trip bounds, and exactness of the fixed-point emulator."""
import numpy as np
import pytest

from loihi_deploy.compiler.calibrate import Calibration
from loihi_deploy.compiler.convert import convert
from loihi_deploy.compiler.ir import FixedProfile, MembranePolicy, parts_as_one
from loihi_deploy.compiler.quantize import quantization_report, quantize
from loihi_deploy.sim_backend.emulator import Emulator
from tests.conftest import random_ann


def _graph(seed=0, T=6, alpha=0.5, weight_bits=None):
    ann = random_ann(obs_dim=7, hidden=(24, 16), act_dim=3, seed=seed)
    states = np.random.default_rng(seed).normal(0, 2, (400, 7))
    acts = []
    ann.forward(states, acts)
    graph = convert(ann, Calibration(tuple(a.max(axis=0) for a in acts), {}), T,
                    MembranePolicy("crpi", alpha))
    return quantize(graph, np.abs(states).max(axis=0), weight_bits=weight_bits), states


@pytest.mark.parametrize("weight_bits", [8, 16])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bit_budgets_and_roundtrip_bounds(seed, weight_bits):
    graph, _ = _graph(seed, weight_bits=weight_bits)
    prev_theta = None
    for layer, q in zip(graph.hidden, graph.fixed.hidden):
        assert len(q.dense_parts) == weight_bits // 8
        for w, e in q.dense_parts:   # every part is a stock 8-bit Dense
            assert np.all(w % 2 == 0) and w.min() >= -256 and w.max() <= 254 and -8 <= e <= 7
        assert 0 <= q.bias_exp <= 7
        assert np.abs(q.bias_mant).max() <= 4095 and q.vth_mant.max() <= 2 ** 13
        w_eff = (layer.synapse.weight / graph.fixed.input_scale[None, :] if prev_theta is None
                 else layer.synapse.weight * prev_theta[None, :])
        weight, low_exp = parts_as_one(q.dense_parts)
        ideal = w_eff * q.scale[:, None] / 2.0 ** low_exp
        assert np.abs(weight - ideal).max() <= 1.0 + 1e-9       # nearest even integer
        np.testing.assert_allclose(q.vth_mant, layer.threshold * q.scale, atol=0.5 + 1e-9)
        prev_theta = layer.threshold
    report = quantization_report(graph)
    assert [r.name for r in report] == ["hidden0", "hidden1", "readout"]
    assert all(r.weight_rel_rms < (0.05 if weight_bits == 8 else 0.002) for r in report)


def test_split_weights_keep_the_scale_and_refine_the_grid_128_fold():
    """16-bit weights: the same per-neuron scales and thresholds as 8-bit ones, on a grid
    2**7 finer (the low byte's exponent is 7 below the high byte's; layer 0 also trades payload
    bits for weight levels, so its gain is smaller)."""
    graph8, _ = _graph(5, weight_bits=8)
    graph16, _ = _graph(5, weight_bits=16)
    for q8, q16 in zip(graph8.fixed.hidden, graph16.fixed.hidden):
        np.testing.assert_array_equal(q8.scale, q16.scale)
        np.testing.assert_array_equal(q8.vth_mant, q16.vth_mant)
        assert q16.weight_low is not None and q8.weight_low is None
    rms8 = [r.weight_rel_rms for r in quantization_report(graph8)]
    rms16 = [r.weight_rel_rms for r in quantization_report(graph16)]
    assert all(b < a / 20 for a, b in zip(rms8, rms16)), (rms8, rms16)


def test_fixed_emulator_is_exact_across_batch_sizes():
    graph, states = _graph(3)
    alphas = np.array([0.0, 0.25, 0.5, 1.0])
    batch = Emulator(graph, 4, alpha=alphas)
    singles = [Emulator(graph, 1, alpha=a) for a in alphas]
    for k in range(30):
        obs = states[k * 4:(k + 1) * 4]
        together = batch.act(obs)
        apart = np.concatenate([e.act(obs[i:i + 1]) for i, e in enumerate(singles)])
        np.testing.assert_array_equal(together, apart)


def test_fixed_profile_tracks_float_profile():
    rmse = {}
    for weight_bits in (8, 16):
        graph, states = _graph(4, T=32, alpha=0.0, weight_bits=weight_bits)
        float_actions = Emulator(graph, len(states), profile="float").act(states)
        fixed_actions = Emulator(graph, len(states), profile="fixed").act(states)
        rmse[weight_bits] = np.sqrt(np.mean((float_actions - fixed_actions) ** 2))
    assert rmse[8] < 0.05 and rmse[16] < rmse[8], rmse


def test_payload_bits_that_overflow_lavas_accumulator_are_refused():
    graph, _ = _graph(0)
    with pytest.raises(ValueError, match="overflow Lava's 32-bit dendritic accumulator"):
        FixedProfile(graph.fixed.input_scale, 24, graph.fixed.hidden,
                     graph.fixed.readout_weight, 0, graph.fixed.readout_scale)
