"""NIR export: written, read back with nir, compared node by node; thresholds normalised."""
import json

import nir
import numpy as np
import pytest

from loihi_deploy.compiler.calibrate import Calibration
from loihi_deploy.compiler.convert import convert
from loihi_deploy.compiler.export_nir import DT, export_nir, nir_semantics
from loihi_deploy.compiler.ir import MembranePolicy, NeuronModel
from loihi_deploy.sim_backend.emulator import Emulator
from tests.conftest import random_ann


def _graph(neuron="if", dead=False):
    ann = random_ann(obs_dim=5, hidden=(7, 6), act_dim=2)
    thetas = (np.linspace(0.5, 2, 7), np.linspace(1, 3, 6))
    if dead:
        thetas[0][2] = 0.0   # a neuron never active in calibration
    return ann, thetas, convert(ann, Calibration(thetas, {}), 8, MembranePolicy("crpi", 0.4),
                                env_id="X", neuron=NeuronModel(neuron))


@pytest.mark.parametrize("neuron", ["if", "cuba"])
def test_nir_round_trip_normalises_thresholds(tmp_path, neuron):
    ann, thetas, graph = _graph(neuron)
    back = nir.read(str(export_nir(graph, tmp_path / "policy.nir")))
    assert sorted(back.edges) == sorted([("input", "affine0"), ("affine0", "lif0"),
                                         ("lif0", "affine1"), ("affine1", "lif1"),
                                         ("lif1", "readout"), ("readout", "output")])
    assert isinstance(back.nodes["lif0"], nir.CubaLIF)
    for k in (0, 1):
        np.testing.assert_array_equal(back.nodes[f"lif{k}"].v_threshold, np.ones(len(thetas[k])))
    np.testing.assert_allclose(back.nodes["affine0"].weight,
                               ann.hidden[0].weight / thetas[0][:, None], rtol=1e-15)
    np.testing.assert_allclose(back.nodes["affine1"].weight,   # amplitude in, threshold out
                               ann.hidden[1].weight * thetas[0] / thetas[1][:, None], rtol=1e-15)
    np.testing.assert_allclose(back.nodes["affine1"].bias, ann.hidden[1].bias / thetas[1])
    np.testing.assert_array_equal(back.nodes["readout"].weight, ann.readout.weight * thetas[1])
    semantics = json.loads(back.metadata["loihi_deploy"])
    assert semantics["membrane"] == "crpi:0.4" and semantics["dt"] == DT
    assert any("reset by subtraction" in s for s in semantics["not_expressible"])


def test_a_dead_neuron_exports_as_silent():
    from loihi_deploy.compiler.export_nir import to_nir
    _, _, graph = _graph(dead=True)
    nodes = to_nir(graph).nodes
    assert not nodes["affine0"].weight[2].any() and nodes["affine0"].bias[2] == 0
    assert not nodes["affine1"].weight[:, 2].any()   # its amplitude theta is 0 downstream


def test_neuron_parameters_mean_no_leak_in_float32_and_float64():
    from loihi_deploy.compiler.export_nir import NO_LEAK_TAU
    for dtype in (np.float32, np.float64):
        assert dtype(1) - dtype(DT) / dtype(NO_LEAK_TAU) == dtype(1)


def test_nir_semantics_graph_starts_at_zero_and_resets_to_zero():
    """The emulator's view of the export: cuba rule (reset to 0, v_init 0), vanilla."""
    _, _, graph = _graph()
    nir_graph = nir_semantics(graph)
    assert str(nir_graph.neuron) == "cuba" and str(nir_graph.membrane) == "vanilla"
    emulator = Emulator(nir_graph, 3)
    emulator.reset()
    assert emulator.act(np.zeros((3, 5))).shape == (3, 2)


def test_models_without_a_nir_primitive_are_refused(tmp_path):
    ann, thetas, _ = _graph()
    graph = convert(ann, Calibration(thetas, {}), 4, neuron=NeuronModel("mt", 4))
    with pytest.raises(ValueError, match="IF and cuba neurons only"):
        export_nir(graph, tmp_path / "mt.nir")
    assert not (tmp_path / "mt.nir").exists()
