"""Property-based tests (hypothesis): neuron dynamics, quantiser, bundle loader."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loihi_deploy.compiler.bundle import BundleError, load_bundle, save_bundle
from loihi_deploy.compiler.calibrate import Calibration
from loihi_deploy.compiler.convert import convert
from loihi_deploy.compiler.ir import ActionHead, AnnGraph, Dense, MembranePolicy, parts_as_one
from loihi_deploy.compiler.quantize import quantize
from loihi_deploy.sim_backend import codec
from loihi_deploy.sim_backend.emulator import Emulator
from tests.conftest import random_ann

finite = st.floats(-4, 4, allow_nan=False, allow_infinity=False)


def transcription(currents, theta, T, alpha):
    """docs/conversion.md section 1 / 1.2 written out for one neuron, plain Python floats."""
    v0, spikes_per_decision = theta / 2, []
    for current in currents:          # one decision per constant input current
        v, n = v0, 0
        for _ in range(T):
            m = v + current
            s = m > theta
            v = m - theta * s
            n += s
        dv = max(v - v0, -theta * n)
        v0 = theta / 2 + min(max(alpha * dv, -theta / 2), theta / 2)
        spikes_per_decision.append(n)
    return spikes_per_decision


@settings(max_examples=60, deadline=None)
@given(currents=st.lists(finite, min_size=1, max_size=6),
       theta=st.floats(0.05, 3), T=st.integers(1, 12), alpha=st.floats(0, 1))
def test_emulator_matches_the_written_out_equations(currents, theta, T, alpha):
    # one IF neuron fed its current directly: W = 1, b = 0
    one = Dense(np.ones((1, 1)), np.zeros(1))
    ann = AnnGraph((one,), one, ActionHead(np.ones(1), np.zeros(1)))
    emu = Emulator(convert(ann, Calibration((np.array([theta]),), {}), T,
                           MembranePolicy("crpi", alpha)), 1)
    counts = []
    for c in currents:
        emu.act(np.array([[c]]))
        counts.append(int(emu.last_event_counts[0][0, 0]))
    assert counts == transcription(currents, theta, T, alpha)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3), margin=st.floats(1, 4))
def test_quantizer_bounds_and_monotone_encoding(seed, scale, margin):
    ann = random_ann(obs_dim=5, hidden=(9, 7), act_dim=2, seed=seed)
    ann = AnnGraph(tuple(Dense(h.weight * scale, h.bias * scale) for h in ann.hidden),
                   ann.readout, ann.head)
    states = np.random.default_rng(seed).normal(0, 3, (100, 5))
    acts = []
    ann.forward(states, acts)
    graph = quantize(convert(ann, Calibration(tuple(a.max(axis=0) for a in acts), {}), 4),
                     np.abs(states).max(axis=0), input_margin=margin)
    prev = None
    for layer, q in zip(graph.hidden, graph.fixed.hidden):
        w_eff = (layer.synapse.weight / graph.fixed.input_scale if prev is None
                 else layer.synapse.weight * prev)
        weight, low_exp = parts_as_one(q.dense_parts)   # split weights: high + low byte
        ideal = w_eff * q.scale[:, None] / 2.0 ** low_exp
        assert np.abs(weight - ideal).max() <= 1 + 1e-9       # round to the nearest even
        assert all(np.all(w % 2 == 0) for w, _ in q.dense_parts)
        prev = layer.threshold
    line = np.linspace(-50, 50, 201)[:, None].repeat(5, axis=1)
    payload, clipped = codec.encode(graph, line, "fixed")
    assert np.all(np.diff(payload, axis=0) >= 0)               # encoding is monotone
    limit = 2 ** (graph.fixed.input_bits - 1) - 1
    assert np.abs(payload).max() <= limit and clipped.sum() == np.sum(
        np.abs(np.round(line * graph.fixed.input_scale)) > limit)


_BUNDLE_BYTES = {}


def _valid_bundle(tmp_path_factory) -> bytes:
    if not _BUNDLE_BYTES:
        ann = random_ann(obs_dim=9, hidden=(6, 5), act_dim=1)
        graph = convert(ann, Calibration((np.ones(6), np.ones(5)), {}), 3,
                        MembranePolicy("crpi", 0.5), env_id="InvertedDoublePendulum-v5")
        graph = quantize(graph, np.ones(9))
        path = save_bundle(graph, tmp_path_factory.mktemp("b") / "b.h5")
        _BUNDLE_BYTES["data"] = path.read_bytes()
        _BUNDLE_BYTES["graph"] = graph
    return _BUNDLE_BYTES["data"]


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_bundles_fail_only_with_bundle_error(tmp_path_factory, data):
    raw = bytearray(_valid_bundle(tmp_path_factory))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("fuzz") / "f.h5"
    path.write_bytes(bytes(raw))
    try:
        graph = load_bundle(path)
    except BundleError:
        return
    original = _BUNDLE_BYTES["graph"]   # it loaded: the flipped bytes changed nothing we use
    for a, b in zip(original.hidden, graph.hidden):
        np.testing.assert_array_equal(a.synapse.weight, b.synapse.weight)
    for (a, ea), (b, eb) in zip(original.fixed.readout_parts, graph.fixed.readout_parts):
        np.testing.assert_array_equal(a, b)
        assert ea == eb
