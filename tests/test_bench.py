"""The benchmark suite's quick mode end to end, and the analysis measures' invariants."""
import json

import numpy as np
import pytest

from loihi_deploy.compiler.ir import MembranePolicy
from loihi_deploy.studies import analysis
from loihi_deploy.api import compile_policy, load_ann
from loihi_deploy.runtime.closed_loop import AnnController

POLICY, ENV = "inverted_double_pendulum_v5_td3", "InvertedDoublePendulum-v5"


@pytest.fixture(scope="module")
def idp():
    ann = load_ann(POLICY, ENV)
    return ann, compile_policy(ann, ENV, 4, MembranePolicy("crpi", 0.0), calib_episodes=2)


def test_swap_with_the_same_policy_reproduces_its_return_exactly(idp):
    """Scoring probe actions by save / step / restore leaves the driver's trajectory as is."""
    ann, _ = idp
    plain = analysis.swap_returns(AnnController(ann), AnnController(ann), ENV, [5, 6])
    driver, probe = plain
    np.testing.assert_array_equal(driver, probe)
    from loihi_deploy.runtime.closed_loop import run_episodes
    np.testing.assert_array_equal(driver, run_episodes(AnnController(ann), ENV, [5, 6]).returns)


def test_action_error_cosines_are_cosines_and_crpi_decorrelates_the_residual(idp):
    ann, graph = idp
    vanilla = analysis.action_errors(ann, graph, ENV, [1, 2], 0.0, max_steps=200)
    crpi = analysis.action_errors(ann, graph, ENV, [1, 2], 1.0, max_steps=200)
    for result in (vanilla, crpi):
        for key in ("ann_correction", "snn_consistency", "snn_drift"):
            assert -1.0 <= result[key] <= 1.0
    # CRPI feeds the residual back: consecutive residuals correlate less (docs/conversion.md section 5)
    assert np.mean(crpi["residual_cos"]) < np.mean(vanilla["residual_cos"])


@pytest.mark.lava
def test_bench_quick_writes_every_part(tmp_path):
    from loihi_deploy.cli import main
    assert main(["bench", "--quick", "--out", str(tmp_path), "--episodes", "2"]) == 0
    index = (tmp_path / "quick_README.md").read_text()
    for title in ("Conversion study", "CRPI clip radius", "Error amplification",
                  "Cost per decision", "Float vs Loihi fixed point", "Simulator performance",
                  "Pixel policies (convolutional)", "NIR semantics and snnTorch",
                  "Calibration seed spread", "Real-time paced control on Lava"):
        assert f"## {title}" in index
    pixels = json.loads((tmp_path / "quick_pixels.json").read_text())["rows"]
    assert [r["env_id"] for r in pixels] == ["InvertedPendulum-v5-pixels"]
    assert pixels[0]["cost"]["sops_per_decision"] > 0 and pixels[0]["ann"]["mean"] > 0
    cost = json.loads((tmp_path / "quick_cost.json").read_text())
    assert all(r["sops_per_decision"] > 0 and r["lava_identical"] for r in cost)
    sim = json.loads((tmp_path / "quick_simulator.json").read_text())
    assert all(r["lava_equals_emulator"] for r in sim["lava"])
    assert (tmp_path / "quick_conversion_alpha.png").read_bytes()[:4] == b"\x89PNG"
    conversion = json.loads((tmp_path / "quick_conversion.json").read_text())["rows"]
    for row in conversion:   # the selected alpha is reported on other episodes than chosen on
        assert row["test"]["reset_seeds"][0] == 10100 and row["selected_alpha"] in row["alphas"]
    calibration = json.loads((tmp_path / "quick_calibration.json").read_text())
    assert {r["method"] for r in calibration} == {"max", "emax90@2"}
    assert all(len(r["seed_means"]) == 2 for r in calibration)
    # --resume keeps only this run's rows: a planted row of another policy is dropped, one of
    # other alphas refused (it was averaged into the tables)
    saved = json.loads((tmp_path / "quick_conversion.json").read_text())
    saved["rows"].append({**saved["rows"][0], "policy": "planted"})
    (tmp_path / "quick_conversion.json").write_text(json.dumps(saved))
    assert main(["bench", "--quick", "--parts", "conversion", "--resume", "--out",
                 str(tmp_path), "--episodes", "2"]) == 0
    assert json.loads((tmp_path / "quick_conversion.json").read_text()) == \
        {**saved, "rows": saved["rows"][:-1]}                  # nothing recomputed
    saved["rows"][0]["alphas"] = [0.0, 0.7, 1.0]
    (tmp_path / "quick_conversion.json").write_text(json.dumps(saved))
    assert main(["bench", "--quick", "--parts", "conversion", "--resume", "--out",
                 str(tmp_path), "--episodes", "2"]) == 2


def test_calibration_methods_name_their_episode_count():
    from loihi_deploy.studies.bench.calibration import CALIB_EPISODES, method_episodes
    assert method_episodes("max") == ("max", None, CALIB_EPISODES)
    assert method_episodes("p99.9@50") == ("percentile", 99.9, 50)
    assert method_episodes("max+snn@3") == ("max+snn", None, 3)
    assert method_episodes("emax90@50") == ("episode-max", 90.0, 50)
    for bad in ("mean", "max@", "max@5x", "max@-1", "p", "p0", "p101", "pmax"):
        with pytest.raises(ValueError, match="unknown calibration method"):
            method_episodes(bad)


def test_sweep_on_ray_local_mode_gives_the_process_results(idp):
    """Fixed point is exact for any split, so Ray (local mode) and processes must agree."""
    pytest.importorskip("ray")
    import ray
    from loihi_deploy.compiler.quantize import quantize
    from loihi_deploy.api import sweep
    ann, graph = idp
    fixed = quantize(graph, np.asarray(graph.calibration["obs_absmax"]))
    try:
        on_ray = sweep(fixed, ann, ENV, [0.0, 1.0], 2, workers=2, ann_returns=np.zeros(2),
                       ray_address="local")
    finally:
        ray.shutdown()
    local = sweep(fixed, ann, ENV, [0.0, 1.0], 2, workers=2, ann_returns=np.zeros(2))
    np.testing.assert_array_equal(on_ray.snn_returns, local.snn_returns)


def test_bench_policy_lists_name_bundled_policies_or_are_refused():
    from loihi_deploy.cli import main
    from loihi_deploy.studies.bench.common import bundled_policy_specs
    assert [s.env_id for s in bundled_policy_specs(["hopper_v5_td3"])] == ["Hopper-v5"]
    with pytest.raises(ValueError, match="not bundled state policies: hoper_v5_td3; the "
                                         "bundled ones are ant_v5_td3"):
        bundled_policy_specs(["hopper_v5_td3", "hoper_v5_td3"])
    with pytest.raises(ValueError, match="not bundled pixel policies: hopper_v5_td3"):
        bundled_policy_specs(["hopper_v5_td3"], pixels=True)
    assert main(["bench", "--parts", "pacing", "--pacing-policies", "hoper_v5_td3"]) == 2


def test_noise_floor_changes_only_the_thresholds_and_repeats_float_without_a_change():
    """The chaos floor's two runs differ by the perturbation alone: with none, every
    episode's return is identical (same machine, same process); with one, the table renders
    next to the 16-bit rows of the same cells."""
    from loihi_deploy.studies.bench.common import bundled_policy_specs
    from loihi_deploy.studies.bench.fidelity import (fidelity_part, format_noise_floor,
                                                     noise_floor_part)
    specs, cell = bundled_policy_specs([POLICY]), [("dc:4", 2)]
    same, = noise_floor_part(specs, 3, cell, perturbation=0.0, progress=False)
    assert same["identical_episodes"] == 3 and same["nudged_minus_float_points"][0] == 0.0
    nudged = noise_floor_part(specs, 3, cell, progress=False)
    table = format_noise_floor(nudged, fidelity_part(specs, 3, cell, progress=False))
    assert "| dc:4 | 2 | " in table and "16-bit fixed point" in table


def test_calibration_floor_varies_only_the_nudge():
    """Without a nudge every variant repeats the first exactly (spread 0, no integer changed);
    a 1e-6 nudge changes a few of the fixed profile's integers at most."""
    from loihi_deploy.studies.bench.calibration import calibration_floor_part, format_calibration
    from loihi_deploy.studies.bench.common import bundled_policy_specs
    specs, cell = bundled_policy_specs([POLICY]), (("dc:4", 2),)
    same = calibration_floor_part(specs, 2, (0.0, 0.0), "max@2", cell, progress=False)
    assert [r["seed_spread_std"] for r in same] == [0.0, 0.0]
    assert same[1]["fixed_integers_changed"] == [0, 0]
    nudged = calibration_floor_part(specs, 2, (0.0, 1e-6), "max@2", cell, progress=False)
    assert max(nudged[1]["fixed_integers_changed"]) < 0.001 * nudged[1]["fixed_integers"]
    assert "max@2 x (1 + nudge) | fixed | 1 of 1" in format_calibration(same)


@pytest.mark.parametrize("row, said", [
    ({"policy": "x", "neuron": "if"}, "row 0 is damaged (env_id is missing)"),
    ("a row", "row 0 is damaged (the row is a str, not an object)"),
])
@pytest.mark.parametrize("part", ["conversion", "amplification"])
def test_damaged_saved_rows_are_refused_naming_the_file_and_row(tmp_path, capsys, part, row,
                                                               said):
    """--resume reads a part's earlier rows, and amplification reads the conversion study's:
    a damaged row is refused before any work (it failed deep in formatting)."""
    from loihi_deploy.cli import main
    saved = tmp_path / "quick_conversion.json"
    saved.write_text(json.dumps({"settings": {}, "rows": [row]}))
    assert main(["bench", "--quick", "--parts", part, "--resume", "--out", str(tmp_path)]) == 2
    assert f"{saved}: {said}" in capsys.readouterr().err


def test_the_row_schema_names_where_a_row_departs_from_it():
    from loihi_deploy.studies.bench.common import SWEEP_ROW, schema_error
    assert schema_error({"a": [1, 2.5]}, {"a": [(int, float)], "b?": str}) is None
    assert schema_error({"a": [1, "x"]}, {"a": [(int, float)]}) == \
        "a[1] is 'x', expected int or float"
    assert schema_error({"a": True}, {"a": (int, float)}) == "a is True, expected int or float"
    assert schema_error({"a": 1, "b": 2}, {"a": int, "b?": str}) == "b is 2, expected str"
    assert schema_error({}, SWEEP_ROW) == "policy is missing"


def test_a_fifo_among_the_results_is_refused_before_any_work(tmp_path, capsys):
    """Writing the index read every part's .md: a FIFO there hung the bench after its work."""
    import os

    from loihi_deploy.cli import main
    os.mkfifo(tmp_path / "quick_cost.md")
    assert main(["bench", "--quick", "--parts", "amplification", "--out", str(tmp_path)]) == 2
    assert "quick_cost.md: is not a regular file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quick_cost.md"]
