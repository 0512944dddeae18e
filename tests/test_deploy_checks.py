"""inspect (hardware mapping), check (deployment gate) and loihi_deploy.testing."""
import json

import pytest

from loihi_deploy.cli import main
from loihi_deploy.testing import assert_deploys, check_deployment

POLICY, ENV = "inverted_double_pendulum_v5_td3", "InvertedDoublePendulum-v5"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    path = tmp_path_factory.mktemp("b") / "idp.h5"
    assert main(["compile", POLICY, "--env", ENV, "-T", "8", "--calib-episodes", "2",
                 "--profile", "fixed", "-o", str(path)]) == 0
    return path


def test_inspect_reports_the_mapping(bundle, capsys):
    capsys.readouterr()
    assert main(["inspect", str(bundle), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    by_chip = {m["chip"]: m for m in info["mapping"]}
    assert by_chip["Loihi 2"]["fits"] and by_chip["Loihi 2"]["cores"] == 3
    assert not by_chip["Loihi 1"]["fits"]  # graded input payloads, soft-reset IF
    hidden1 = by_chip["Loihi 1"]["layers"][1]   # split 16-bit weights: two synapses per weight
    assert hidden1["dense_parts"] == 2 and hidden1["synapses"] == 2 * 256 * 256
    assert hidden1["neurons_per_core"] == 128     # 128 KiB / (256 inputs x 2 parts x 2 B)
    energy = info["energy_per_decision"]          # one emulator episode, counted events
    assert 0 < energy["events"] < energy["neuron_updates"] == 8 * (256 + 256)
    assert energy["energy_uj"] > 52e-6 * energy["neuron_updates"]
    assert main(["inspect", str(bundle), "--energy-episodes", "0"]) == 0
    out = capsys.readouterr().out
    assert "Loihi 2: fits on 3 core(s)" in out and "energy per decision" not in out
    assert main(["inspect", str(bundle)]) == 0
    assert "energy per decision (ESTIMATE" in capsys.readouterr().out


def test_check_passes_and_fails(bundle, capsys):
    assert main(["check", str(bundle), "--min-ratio", "0.5", "--episodes", "2"]) == 0
    assert "PASS" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["check", str(bundle), "--min-ratio", "0.5", "--floor", "1e9", "--episodes", "2"])
    assert info.value.code == 1 and "FAIL" in capsys.readouterr().out


def test_testing_helper_for_users_suites(bundle):
    result = check_deployment(bundle, min_ratio=0.5, episodes=2)
    assert result.passed and 0.5 < result.ratio < 1.5
    assert_deploys(bundle, min_ratio=0.5, episodes=2)
    with pytest.raises(AssertionError, match="FAIL: InvertedDoublePendulum-v5"):
        assert_deploys(bundle, min_ratio=2.0, episodes=2)
