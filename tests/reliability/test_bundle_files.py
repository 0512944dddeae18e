"""Bundles: round trip, and a clear BundleError for every kind of bad file."""
import h5py
import numpy as np
import pytest

from loihi_deploy.runtime.envs import env_spaces
from loihi_deploy.compiler.bundle import (BundleError, check_bundle_env, load_bundle,
                                          save_bundle, write_header)
from loihi_deploy.compiler.calibrate import Calibration
from loihi_deploy.compiler.convert import convert
from loihi_deploy.compiler.ir import MembranePolicy, NeuronModel
from tests.conftest import random_ann


@pytest.fixture
def graph():
    ann = random_ann(obs_dim=9, hidden=(16, 8), act_dim=1)
    thetas = (np.linspace(0, 2, 16), np.linspace(0.5, 1, 8))
    return convert(ann, Calibration(thetas, {"method": "max", "episodes": 3}), 8,
                   MembranePolicy("crpi", 0.3), env_id="InvertedDoublePendulum-v5")


def test_roundtrip_keeps_everything(tmp_path, graph):
    path = save_bundle(graph, tmp_path / "b.h5")
    loaded = load_bundle(path)
    assert (loaded.timesteps, str(loaded.membrane), loaded.env_id, str(loaded.neuron)) == \
        (8, "crpi:0.3", "InvertedDoublePendulum-v5", "if")
    assert loaded.calibration == {"method": "max", "episodes": 3}
    for a, b in zip(graph.hidden, loaded.hidden):
        np.testing.assert_array_equal(a.synapse.weight, b.synapse.weight)
        np.testing.assert_array_equal(a.threshold, b.threshold)
    np.testing.assert_array_equal(graph.head.scale, loaded.head.scale)
    with h5py.File(path) as f:
        assert "numpy" in f.attrs["versions"]
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_roundtrip_keeps_neuron_model_and_crpi_clip(tmp_path, graph):
    mt = graph.replace(neuron=NeuronModel("dc", 3), membrane=MembranePolicy("crpi", 0.4, 1.5))
    loaded = load_bundle(save_bundle(mt, tmp_path / "dc.h5"))
    assert (loaded.neuron, loaded.membrane, loaded.encoder) == \
        (NeuronModel("dc", 3), MembranePolicy("crpi", 0.4, 1.5), "change")


def test_schema_1_bundle_migrates(tmp_path, graph):
    """A schema-1 file (IF only, written before neuron models and CRPI clips) still loads."""
    path = save_bundle(graph, tmp_path / "old.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = 1
    write_header(path, schema=1)
    loaded = load_bundle(path)
    assert (str(loaded.neuron), str(loaded.membrane)) == ("if", "crpi:0.3")


@pytest.mark.parametrize("weight_bits", [8, 16])
def test_fixed_profile_roundtrip_and_schema_3(tmp_path, graph, weight_bits):
    """Split weights (schema 4) and one-Dense weights round-trip; an 8-bit bundle written as
    schema 3 (before split weights existed) loads unchanged."""
    from loihi_deploy.compiler.quantize import quantize
    fixed = quantize(graph, np.full(9, 2.0), weight_bits=weight_bits)
    path = save_bundle(fixed, tmp_path / "f.h5")
    loaded = load_bundle(path)
    for a, b in zip([*fixed.fixed.hidden, fixed.fixed], [*loaded.fixed.hidden, loaded.fixed]):
        parts = a.readout_parts if a is fixed.fixed else a.dense_parts
        loaded_parts = b.readout_parts if b is loaded.fixed else b.dense_parts
        assert len(parts) == len(loaded_parts) == weight_bits // 8
        for (w, e), (w2, e2) in zip(parts, loaded_parts):
            np.testing.assert_array_equal(w, w2)
            assert e == e2
    if weight_bits == 8:
        with h5py.File(path, "r+") as f:
            f.attrs["schema_version"] = 3
        write_header(path, schema=3)
        assert load_bundle(path).fixed.hidden[0].weight_low is None


def test_split_weights_out_of_range_are_named(tmp_path, graph):
    from loihi_deploy.compiler.quantize import quantize
    path = save_bundle(quantize(graph, np.full(9, 2.0)), tmp_path / "bad.h5")
    with h5py.File(path, "r+") as f:
        f["fixed/hidden/1/weight_low"][0, 0] = 4000
    write_header(path)
    with pytest.raises(BundleError, match=r"bad\.h5.*weight_low: values must lie in"):
        load_bundle(path)


def test_truncated_zero_and_foreign_files(tmp_path, graph):
    path = save_bundle(graph, tmp_path / "b.h5")
    data = path.read_bytes()
    (tmp_path / "trunc.h5").write_bytes(data[: len(data) // 2])
    (tmp_path / "zero.h5").write_bytes(b"")
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = np.zeros(3)
    for name, match in [("trunc.h5", "checksum mismatch"), ("zero.h5", "empty file"),
                        ("foreign.h5", "not a loihi-deploy bundle"), ("missing.h5", "no such")]:
        with pytest.raises(BundleError, match=match) as info:
            load_bundle(tmp_path / name)
        assert name in str(info.value)


def test_modified_contents_fail_the_checksum(tmp_path, graph):
    path = save_bundle(graph, tmp_path / "b.h5")
    with h5py.File(path, "r+") as f:
        f["hidden/0/threshold"][3] = 99.0
    with pytest.raises(BundleError, match="checksum mismatch"):
        load_bundle(path)


def test_newer_schema_and_missing_field(tmp_path, graph):
    path = save_bundle(graph, tmp_path / "b.h5")
    write_header(path, schema=99)  # what a newer loihi-deploy would write
    with pytest.raises(BundleError, match="schema 99 is newer"):
        load_bundle(path)
    path = save_bundle(graph, tmp_path / "c.h5")
    with h5py.File(path, "r+") as f:
        del f["readout/bias"]
    write_header(path)  # a writer that sealed an incomplete file
    with pytest.raises(BundleError, match="missing dataset 'readout/bias'"):
        load_bundle(path)


def test_env_mismatch_is_named(graph):
    check_bundle_env(graph, env_spaces("InvertedDoublePendulum-v5"), "b.h5")
    with pytest.raises(BundleError, match="9 observations, 1 actions\\) but Hopper-v5 has 11"):
        check_bundle_env(graph, env_spaces("Hopper-v5"), "b.h5")
