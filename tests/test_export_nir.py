"""NIR export: written, read back with nir, and compared node by node."""
import json

import nir
import numpy as np

from loihi_deploy.compiler.calibrate import Calibration
from loihi_deploy.compiler.convert import convert
from loihi_deploy.compiler.export_nir import export_nir
from loihi_deploy.compiler.ir import MembranePolicy
from tests.conftest import random_ann


def test_nir_round_trip(tmp_path):
    ann = random_ann(obs_dim=5, hidden=(7, 6), act_dim=2)
    thetas = (np.linspace(0.5, 2, 7), np.linspace(1, 3, 6))
    graph = convert(ann, Calibration(thetas, {}), 8, MembranePolicy("crpi", 0.4), env_id="X")
    back = nir.read(str(export_nir(graph, tmp_path / "policy.nir")))
    assert sorted(back.edges) == sorted([("input", "affine0"), ("affine0", "if0"),
                                         ("if0", "affine1"), ("affine1", "if1"),
                                         ("if1", "readout"), ("readout", "output")])
    np.testing.assert_array_equal(back.nodes["affine0"].weight, ann.hidden[0].weight)
    np.testing.assert_array_equal(back.nodes["affine1"].weight,
                                  ann.hidden[1].weight * thetas[0])   # amplitude folded in
    np.testing.assert_array_equal(back.nodes["if1"].v_threshold, thetas[1])
    np.testing.assert_array_equal(back.nodes["readout"].bias, ann.readout.bias)
    semantics = json.loads(back.metadata["loihi_deploy"])
    assert semantics["membrane"] == "crpi:0.4" and semantics["reset"] == "subtract"
    assert any("reset by subtraction" in s for s in semantics["not_expressible"])
