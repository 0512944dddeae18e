"""The neuron equations against hand-computed event sequences (docs/conversion.md section 1, 1.2, 2)."""
import numpy as np
import pytest

from loihi_deploy.compiler.ir import NeuronModel
from loihi_deploy.sim_backend import neurons

IF, SNM = NeuronModel("if"), NeuronModel("snm")


def _run(model, theta, inputs, bias=0.0, arith=neurons.FLOAT, v0=None):
    """One neuron through len(inputs) internal steps of one decision: (codes, states)."""
    theta = np.array([theta], dtype=float if arith is neurons.FLOAT else np.int64)
    bias = np.array([bias], dtype=theta.dtype)
    v0 = neurons.initial_potential(theta, model, arith) if v0 is None else np.array([v0])
    state = neurons.decision_start(v0, bias, model)
    codes, states = [], []
    for t, x in enumerate(inputs, start=1):
        state, code, _ = neurons.layer_step(state, np.array([x], dtype=theta.dtype), t, theta,
                                            bias, model, arith)
        codes.append(code.item())
        states.append(state)
    return codes, states


def test_if_charges_fires_strictly_and_subtracts():
    # theta 1, v starts at 0.5: 0.5+0.4=0.9 no; +0.2=1.1 fires -> 0.1; +0.9=1.0 not > 1
    codes, states = _run(IF, 1.0, [0.4, 0.2, 0.9])
    assert codes == [0, 1, 0]
    np.testing.assert_allclose([s.v.item() for s in states], [0.9, 0.1, 1.0])
    assert states[-1].emitted.item() == 1.0     # amplitude theta per spike


def test_snm_positive_and_gated_negative_events():
    # theta 1, v0 0.5: 1.2 -> +1 (v 0.2); -0.7 with emitted 1 -> -1 (v 0.3, emitted 0);
    # -0.6 and -0.4: at or below 0 but nothing emitted to take back -> no event
    codes, states = _run(SNM, 1.0, [0.7, -0.9, -0.9, 0.2])
    assert codes == [1, -1, 0, 0]
    np.testing.assert_allclose([s.v.item() for s in states], [0.2, 0.3, -0.6, -0.4])
    assert [s.emitted.item() for s in states] == [1.0, 0.0, 0.0, 0.0]


def test_mt_level_selection_and_negative_gate():
    mt = NeuronModel("mt", 4)    # theta 8: levels 8, 4, 2, 1 fire at 6, 3, 1.5, 0.75; unit 1
    codes, states = _run(mt, 8.0, [5.0, 0.0, -6.0, 0.0, 0.74])
    # 5 -> level 4 (code 4), v 1; 1 -> level 1; -6: level 8 needs emitted >= 8 (have 5), so
    # level 4 -> -4, v -2, emitted 1; -2: level 2 gated (emitted 1) -> level 1 -> -1;
    # 0.74 - 1 = -0.26: nothing
    assert codes == [4, 1, -4, -1, 0]
    np.testing.assert_allclose([s.v.item() for s in states], [1, 0, -2, -1, -0.26])
    assert [s.emitted.item() for s in states] == [4, 5, 1, 0, 0]


@pytest.mark.parametrize("m, code", [(3.0, 4), (2.999, 2), (6.0, 8), (5.999, 4), (0.75, 1),
                                     (0.7499, 0)])
def test_mt_fires_at_the_three_quarter_crossing_points(m, code):
    assert _run(NeuronModel("mt", 4), 8.0, [m])[0] == [code]


def test_dc_running_means_decode_the_relu():
    dc = NeuronModel("dc", 2)     # theta 2: levels 2, 1 fire at 1.5, 0.75; unit 1
    # bias 0.5 is e_in's start; the input change 1.0 arrives once (then 0): y = 1.5
    codes, states = _run(dc, 2.0, [1.0, 0.0, 0.0], bias=0.5)
    # t1: m = 1 + 0.5 - 0 = 1.5 -> +2; v -0.5; e_in 1.5; e_out 2
    # t2: m = -0.5 + 1.5 - 2 = -1 -> -1 (emitted 2 >= 1); v 0; e_out 2 - 1/2 = 1.5
    # t3: m = 0 + 1.5 - 1.5 = 0 -> nothing; the running mean e_out stays 1.5 = relu(1.5)
    assert codes == [2, -1, 0]
    assert [s.e_in.item() for s in states] == [1.5, 1.5, 1.5]
    assert [s.e_out.item() for s in states] == [2.0, 1.5, 1.5]
    np.testing.assert_allclose([s.v.item() for s in states], [-0.5, 0.0, 0.0])


def test_dc_on_signed_if():
    dc_if = NeuronModel("dc-if")   # theta 1, v0 0.5, input 0.6 once
    codes, states = _run(dc_if, 1.0, [0.6, 0.0, 0.0, 0.0])
    # t1: m = 0.5 + 0.6 = 1.1 -> +1, v 0.1, e_out 1; t2: m = 0.1 + 0.6 - 1 = -0.3 -> -1
    # (emitted 1), v 0.7, e_out 0.5; t3: m = 0.7 + 0.1 = 0.8 -> 0; t4: m = 0.9 -> 0
    assert codes == [1, -1, 0, 0]
    assert [s.e_out.item() for s in states] == [1.0, 0.5, 0.5, 0.5]


@pytest.mark.parametrize("model, theta, inputs", [
    (IF, 1, [0.4, 0.2, 0.9]), (SNM, 1, [0.7, -0.9, -0.9, 0.2]),
    (NeuronModel("mt", 4), 8, [5, 0, -6, 0, 0.75]), (NeuronModel("dc", 2), 2, [1, 0, 0])])
def test_fixed_point_matches_float_where_values_are_exact(model, theta, inputs):
    """Scaled by 64 * 20 (state units), every value above is an exact integer: same events."""
    scale = 20   # a_in enters as a_in << 6, theta is given in state units
    float_codes, _ = _run(model, float(theta), inputs, bias=0.5 if model.kind == "dc" else 0)
    fixed_codes, _ = _run(model, theta * 64 * scale, [round(x * scale) for x in inputs],
                          bias=int(0.5 * 64 * scale) if model.kind == "dc" else 0,
                          arith=neurons.FIXED)
    assert fixed_codes == float_codes


def test_fixed_running_mean_rounds_down_through_the_reciprocal():
    # x / 3 as (x * round(65536 / 3)) >> 16: 192 * 21845 >> 16 = 63 (exact 64): documented
    assert neurons.FIXED.divide_by_step(np.array([192]), 3).item() == 63
    assert neurons.FIXED.divide_by_step(np.array([192]), 2).item() == 96
    assert neurons.FIXED.divide_by_step(np.array([-3]), 2).item() == -2   # toward -inf


def test_crpi_rule_by_hand():
    theta = np.full(4, 2.0)
    v0 = np.array([1.0, 1.0, 1.0, 1.0])
    v_end = np.array([1.3, 0.2, 1.9, -3.0])
    emitted = np.array([3, 1, 0, 0]) * theta
    got = neurons.crpi_initial_potential(v0, v_end, emitted, theta, 0.5, IF)
    # dv = [0.3, -0.8, 0.9, max(-4, -0)=0]; 1 + clip(0.5*dv, -1, 1)
    np.testing.assert_allclose(got, [1.15, 0.6, 1.45, 1.0])
    # large changes clip to [0, theta]
    big = neurons.crpi_initial_potential(np.ones(2), np.array([9.0, -9.0]), np.array([0, 18]),
                                         np.full(2, 2.0), 1.0, IF)
    np.testing.assert_allclose(big, [2.0, 0.0])


def test_crpi_for_mt_clips_at_three_quarters_of_the_smallest_level():
    mt = NeuronModel("mt", 4)   # theta 8: unit 1, v_init 0, default r = 0.75
    theta = np.full(3, 8.0)
    got = neurons.crpi_initial_potential(np.zeros(3), np.array([5.0, -0.4, -3.0]),
                                         np.array([9.0, 9.0, 1.0]), theta, 0.5, mt)
    # 0.5 * 5 = 2.5 -> 0.75; 0.5 * -0.4 = -0.2; dv = max(-3, -emitted 1) = -1 -> -0.5
    np.testing.assert_allclose(got, [0.75, -0.2, -0.5])
    wide = neurons.crpi_initial_potential(np.zeros(1), np.array([5.0]), np.array([9.0]),
                                          theta[:1], 0.5, mt, clip=2.0)
    np.testing.assert_allclose(wide, [2.0])
    fixed = neurons.crpi_initial_potential(np.zeros(3, np.int64), np.array([320, -26, -192]),
                                           np.array([576, 576, 64]), np.full(3, 512), 128, mt,
                                           arith=neurons.FIXED)
    # the same in state units (x64): r = (192 * 64) >> 8 = 48; -26 * 128 >> 8 = -13
    np.testing.assert_array_equal(fixed, [48, -13, -32])


def test_alpha_zero_is_vanilla_and_free_carries_membrane():
    rng = np.random.default_rng(1)
    for model in (IF, SNM, NeuronModel("mt"), NeuronModel("dc")):
        theta = rng.uniform(0.5, 2, 10)
        v0, v_end, n = rng.normal(size=10), rng.normal(size=10) * 3, rng.integers(0, 5, 10)
        v_init = neurons.initial_potential(theta, model)
        np.testing.assert_array_equal(
            neurons.next_initial_potential("crpi", v0, v_end, n, theta, 0.0, model), v_init)
        np.testing.assert_array_equal(
            neurons.next_initial_potential("vanilla", v0, v_end, n, theta, 0.0, model), v_init)
        np.testing.assert_array_equal(
            neurons.next_initial_potential("free", v0, v_end, n, theta, 0.0, model), v_end)
    assert np.all(neurons.initial_potential(theta, NeuronModel("mt")) == 0)


def test_neuron_model_parsing_and_limits():
    assert NeuronModel.parse("mt") == NeuronModel("mt", 4)
    assert NeuronModel.parse("dc:3").payload_bits == 4
    assert str(NeuronModel.parse("snm", 5)) == "snm"
    assert NeuronModel("if").payload_bits == 1 and NeuronModel("snm").payload_bits == 2
    with pytest.raises(ValueError, match="levels must be an integer in"):
        NeuronModel("mt", 8)
    with pytest.raises(ValueError, match="expected one of"):
        NeuronModel.parse("lif")
