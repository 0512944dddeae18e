"""The command line end to end on the bundled InvertedDoublePendulum policy (fast)."""
import json

import numpy as np
import pytest

from loihi_deploy.cli import main

POLICY, ENV = "inverted_double_pendulum_v5_td3", "InvertedDoublePendulum-v5"


def test_compile_then_run(tmp_path, capsys):
    bundle = tmp_path / "idp.h5"
    assert main(["compile", POLICY, "--env", ENV, "-T", "8", "--membrane", "crpi:0.5",
                 "--calib-episodes", "2", "-o", str(bundle)]) == 0
    assert main(["run", str(bundle), "--episodes", "2", "--json", str(tmp_path / "r.json")]) == 0
    out = json.loads((tmp_path / "r.json").read_text())
    assert out["membrane"] == "crpi:0.5" and len(out["returns"]) == 2
    assert min(out["returns"]) > 1000  # the converted policy balances for a while at least
    assert main(["run", str(bundle), "--env", "Hopper-v5"]) == 2
    assert "11 observations" in capsys.readouterr().err


def test_compile_and_run_a_multi_threshold_bundle_in_fixed_point(tmp_path, capsys):
    bundle = tmp_path / "mt.h5"
    assert main(["compile", POLICY, "--env", ENV, "-T", "2", "--neuron", "mt", "--levels", "3",
                 "--membrane", "crpi:0.5:1.5", "--profile", "fixed", "--calib-episodes", "2",
                 "-o", str(bundle)]) == 0
    assert main(["run", str(bundle), "--episodes", "2", "--json", str(tmp_path / "r.json")]) == 0
    out = json.loads((tmp_path / "r.json").read_text())
    assert out["membrane"] == "crpi:0.5:1.5" and min(out["returns"]) > 1000
    assert main(["inspect", str(bundle)]) == 0
    text = capsys.readouterr().out
    assert "MT:3 neurons" in text and "4-bit" in text   # codes +-1, +-2, +-4: 4-bit signed
    assert "16-bit" in text and "twice the synapses" in text   # split weights by default


def test_compile_weight_bits_8_keeps_one_dense_per_layer(tmp_path, capsys):
    bundles = {bits: tmp_path / f"w{bits}.h5" for bits in (8, 16)}
    for bits, bundle in bundles.items():
        assert main(["compile", POLICY, "--env", ENV, "-T", "4", "--profile", "fixed",
                     "--calib-episodes", "2", "--weight-bits", str(bits), "-o",
                     str(bundle)]) == 0
    capsys.readouterr()
    synapses, rms = {}, {}
    for bits, bundle in bundles.items():
        assert main(["inspect", str(bundle), "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        loihi2 = info["mapping"][-1]["layers"]
        assert {layer["dense_parts"] for layer in loihi2} == {bits // 8}
        synapses[bits] = sum(layer["synapses"] for layer in loihi2)
        rms[bits] = np.array([row["weight_rel_rms"] for row in info["quantisation"]])
        # a hidden event reaches every neuron of the next layer through each weight part
        energy = info["energy_per_decision"]
        widths = [layer["neurons"] for layer in loihi2[1:]]
        assert energy["synaptic_ops"] - energy["input_ops"] == pytest.approx(
            bits // 8 * np.dot(energy["events_per_layer"], widths), rel=1e-3)
    assert synapses[16] == 2 * synapses[8]
    assert np.all(rms[8] < 0.1) and np.all(rms[16] < 0.005) and np.all(rms[16] < rms[8] / 10)
    assert main(["compile", POLICY, "--env", ENV, "--neuron", "cuba", "--profile", "fixed",
                 "--weight-bits", "16", "--calib-episodes", "2", "-o",
                 str(tmp_path / "c.h5")]) == 2
    assert "one 8-bit Dense per layer" in capsys.readouterr().err
    assert not (tmp_path / "c.h5").exists()


def test_sweep_writes_json_and_plot(tmp_path, capsys):
    assert main(["sweep", POLICY, "--env", ENV, "-T", "4", "--alphas", "0,1",
                 "--episodes", "2", "--calib-episodes", "2", "--json", str(tmp_path / "s.json"),
                 "--plot", str(tmp_path / "s.png")]) == 0
    result = json.loads((tmp_path / "s.json").read_text())
    assert [row["alpha"] for row in result["snn"]] == [0.0, 1.0]
    held = result["held_out"]   # the selected alpha re-run on fresh episodes
    assert held["reset_seeds"] == [10100, 10101] and held["alpha"] == result["selected_alpha"]
    assert len(held["selected"]["returns"]) == 2 and "better" in held
    assert len(result["ann"]["returns"]) == 2 and result["ann"]["mean"] > 9000
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert "SNN vanilla" in capsys.readouterr().out


def test_policies_lists_the_zoo(capsys):
    import json

    from loihi_deploy.training.snn.runs import BUNDLED
    from loihi_deploy.stats import success_ci95
    assert main(["policies"]) == 0
    out = capsys.readouterr().out
    assert POLICY in out
    # trained controllers: their final 50-episode evaluation and its 95% Wilson interval
    evaluation = json.loads((BUNDLED / "panda_snn" / "metrics.json").read_text())["evaluation"]
    low, high = success_ci95(round(evaluation["success_rate"] * 50), 50)
    row = next(line for line in out.splitlines() if line.startswith("panda_snn"))
    assert f"{evaluation['success_rate']:.0%} [{low:.0%}, {high:.0%}]" in row and " 50 " in row
    assert row.endswith("predictive control, observation change as inputs")   # how trained


@pytest.mark.parametrize("argv,msg", [
    (["sweep", POLICY, "--env", ENV, "--alphas", "0,2"], "values must lie in [0, 1]"),
    (["compile", POLICY, "--env", ENV, "--membrane", "crpi:x", "-o", "x.h5"], "could not convert"),
    (["compile", POLICY, "--env", ENV, "-T", "0", "-o", "x.h5"], "integer in [1, 4096]"),
    (["compile", POLICY, "--env", ENV, "--neuron", "lif", "-o", "x.h5"], "invalid choice"),
    (["sweep", POLICY, "--env", ENV, "--neuron", "mt", "--levels", "9"], "integer in [1, 7]"),
])
def test_bad_arguments_are_rejected_by_the_parser(argv, msg, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and msg in capsys.readouterr().err


def test_unknown_policy_and_env(capsys):
    assert main(["compile", "nope", "--env", ENV, "-o", "x.h5"]) == 2
    assert "neither a file nor a bundled policy" in capsys.readouterr().err
    assert main(["compile", POLICY, "--env", "Nope-v0", "-o", "x.h5"]) == 2
    assert "unknown environment 'Nope-v0'" in capsys.readouterr().err
