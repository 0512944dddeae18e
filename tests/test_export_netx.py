"""lava-dl netx export: read back by lava-dl's own reader and run bit-exactly vs the emulator."""
import h5py
import numpy as np
import pytest

from loihi_deploy.compiler.export_netx import export_netx, not_expressible
from loihi_deploy.compiler.ir import MembranePolicy, NeuronModel
from loihi_deploy.api import compile_policy, load_ann, verify_on_lava

POLICY, ENV = "inverted_double_pendulum_v5_td3", "InvertedDoublePendulum-v5"


@pytest.fixture(scope="module")
def cuba_graph():
    return compile_policy(load_ann(POLICY, ENV), ENV, 6, MembranePolicy("vanilla"),
                          calib_episodes=2, profile="fixed", neuron=NeuronModel("cuba"))


def test_stock_profile_has_one_threshold_per_layer_and_netx_units(cuba_graph):
    for q in cuba_graph.fixed.hidden:
        assert q.weight_exp == 0 and q.bias_exp == 6
        assert q.vth_mant.min() == q.vth_mant.max() > 0
    assert not not_expressible(cuba_graph)


@pytest.mark.lava
def test_netx_file_runs_in_lava_dl_bit_exactly_like_the_emulator(cuba_graph, tmp_path):
    path = export_netx(cuba_graph, tmp_path / "idp.net")
    with h5py.File(path) as f:
        assert [f[f"layer/{i}/type"][()] for i in range(4)] == [b"input", b"dense", b"dense",
                                                                 b"dense"]
        assert f["layer/1/neuron/type"][()] == b"CUBA" and "neuron" not in f["layer/3"]
    result = verify_on_lava(cuba_graph, ENV, decisions=30, seed=3, netx=str(path))
    assert result.decisions >= 10 and result.identical and result.max_abs_diff == 0


@pytest.mark.parametrize("neuron, membrane, reason", [
    ("if", "vanilla", "if neurons: netx carries Loihi's stock CUBA"),
    ("mt", "vanilla", "signed or multi-level events"),
    ("cuba", "crpi:0.5", "CRPI and free-running membranes need custom neuron code")])
def test_what_netx_cannot_express_is_refused_with_the_reason(neuron, membrane, reason,
                                                             tmp_path):
    graph = compile_policy(load_ann(POLICY, ENV), ENV, 4, MembranePolicy.parse(membrane),
                           calib_episodes=1, profile="fixed", neuron=NeuronModel.parse(neuron))
    with pytest.raises(ValueError, match="cannot export to netx") as info:
        export_netx(graph, tmp_path / "x.net")
    assert reason in str(info.value)
    assert not list(tmp_path.iterdir())   # nothing half-written


def test_export_command_refuses_a_float_if_bundle(tmp_path, capsys):
    from loihi_deploy.cli import main
    bundle = tmp_path / "if.h5"
    assert main(["compile", POLICY, "--env", ENV, "-T", "4", "--calib-episodes", "1",
                 "-o", str(bundle)]) == 0
    assert main(["export", str(bundle), "--format", "netx", "-o", str(tmp_path / "x.net")]) == 2
    err = capsys.readouterr().err
    assert "no fixed-point profile" in err and not (tmp_path / "x.net").exists()


def test_a_netx_file_is_checked_to_be_this_bundles_export(cuba_graph, tmp_path):
    """verify --netx with another bundle's export ran it and reported 'not identical'; with a
    float bundle it failed inside lava-dl. Both are refused before Lava starts."""
    from loihi_deploy.compiler.export_netx import check_netx_file
    path = export_netx(cuba_graph, tmp_path / "idp.net")
    check_netx_file(path, cuba_graph)                     # its own export passes
    other = compile_policy(load_ann("inverted_pendulum_v5_td3", "InvertedPendulum-v5"),
                           "InvertedPendulum-v5", 6, MembranePolicy("vanilla"),
                           calib_episodes=2, profile="fixed", neuron=NeuronModel("cuba"))
    with pytest.raises(ValueError, match="not this bundle's export"):
        check_netx_file(path, other)
    with pytest.raises(ValueError, match="the bundle has no netx form"):
        check_netx_file(path, other.replace(fixed=None))
