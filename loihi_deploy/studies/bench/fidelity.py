"""Part fidelity: Loihi fixed point (8-bit and split 16-bit weights) against float.

Per policy and neuron config (CRPI alpha 0.5, nothing tuned; calibration common.CALIBRATION),
the float profile and both fixed-point weight widths run the same FIDELITY_EPISODES evaluation
episodes (reset seeds 100..). Each fixed row gives the paired difference fixed - float per
episode, in points of the ANN's mean return, with its 95% CI: the fixed point is "within 2
points" where |mean difference| <= 2 (docs/fixed_point.md).
"""
from __future__ import annotations

import numpy as np

from loihi_deploy.api import evaluate_ann
from loihi_deploy.stats import bootstrap_ci, mean_ci95
from loihi_deploy.studies.bench.common import (CALIBRATION, calibrated_graph,
                                               nudged_thresholds)

FIDELITY_CONFIGS = [("if", 16), ("mt:4", 2), ("mt:4", 4), ("dc:4", 2), ("dc:4", 4)]
WEIGHT_BITS = (8, 16)
WITHIN_POINTS = 2.0
FIDELITY_EPISODES = 100     # paired episodes per row: at 20 a chaotic row's CI was up to +-29
FLOOR_PERTURBATION = 1e-6   # noise_floor_part: relative change of every hidden threshold


def fidelity_part(specs, episodes: int, configs=FIDELITY_CONFIGS, progress: bool = True,
                  first_seed: int = 100) -> list[dict]:
    """Rows of float vs 8-bit vs 16-bit fixed point on the reset seeds first_seed.. (the bench:
    100..; another first_seed rechecks a row on fresh episodes, docs/fixed_point.md)."""
    from loihi_deploy.compiler.quantize import quantization_report, quantize
    rows = []
    seeds = np.arange(first_seed, first_seed + episodes)
    for spec, ann_mean, neuron, T, graph, cal in _cells(specs, configs, episodes,
                                                        "bench fidelity", progress):
        float_returns = emulated_returns(graph, "float", spec, seeds)
        row = {"policy": spec.label, "env_id": spec.env_id, "neuron": neuron, "timesteps": T,
               "alpha": 0.5, "episodes": episodes, "first_seed": first_seed, "ann": ann_mean,
               "float": mean_ci95(float_returns),
               "float_returns": np.round(float_returns, 2).tolist()}
        for bits in WEIGHT_BITS:
            fixed = quantize(graph, np.asarray(cal.info["obs_absmax"]), weight_bits=bits)
            fixed_returns = emulated_returns(fixed, "fixed", spec, seeds)
            diff = 100 * (fixed_returns - float_returns) / abs(ann_mean)
            row[f"fixed{bits}"] = mean_ci95(fixed_returns)
            row[f"fixed{bits}_minus_float_points"] = mean_ci95(diff)
            row[f"fixed{bits}_weight_rel_rms"] = [
                round(r.weight_rel_rms, 6) for r in quantization_report(fixed)]
            row[f"fixed{bits}_returns"] = np.round(fixed_returns, 2).tolist()
        rows.append(row)
    return rows


def _cells(specs, configs, episodes: int, desc: str, progress: bool):
    """Per policy and neuron config, with a progress bar: (spec, the ANN's mean return over
    `episodes` episodes, neuron, T, the calibrated graph with CRPI alpha 0.5, its
    calibration)."""
    from tqdm.auto import tqdm

    from loihi_deploy.compiler.ir import MembranePolicy
    cache = {}
    with tqdm(total=len(specs) * len(configs), unit="cell", desc=desc,
              disable=not progress) as bar:
        for spec in specs:
            ann = calibrated_graph(spec, cache, *configs[0])[0]
            ann_mean = mean_ci95(evaluate_ann(ann, spec.env_id, episodes,
                                              env_kwargs=spec.env_kwargs))[0]
            for neuron, T in configs:
                _, graph, cal = calibrated_graph(spec, cache, neuron, T)
                bar.set_postfix_str(f"{spec.label} {neuron} T={T}")
                yield (spec, ann_mean, neuron, T,
                       graph.replace(membrane=MembranePolicy("crpi", 0.5)), cal)
                bar.update(1)


def emulated_returns(graph, profile: str, spec, seeds) -> np.ndarray:
    """Returns of `graph` on the emulator in `profile` (float or fixed), one episode per reset
    seed, in parallel worker processes."""
    from loihi_deploy.runtime.closed_loop import run_episodes_parallel
    from loihi_deploy.sim_backend.emulator import Emulator
    return run_episodes_parallel(lambda rows_: Emulator(graph, len(rows_), profile=profile),
                                 spec.env_id, seeds, env_kwargs=spec.env_kwargs).returns


def noise_floor_part(specs, episodes: int = FIDELITY_EPISODES, configs=FIDELITY_CONFIGS,
                     first_seed: int = 100, perturbation: float = FLOOR_PERTURBATION,
                     progress: bool = True) -> list[dict]:
    """The fidelity table's chaos floor: per row, float against float with every hidden
    threshold multiplied by 1 + `perturbation` (1e-6, 100-3000x below the 16-bit weights'
    rounding), on the same episodes and calibration as fidelity_part. The paired return
    difference such a change makes in closed loop is what any implementation, float included,
    shows against float (docs/fixed_point.md, "The chaos floor")."""
    rows = []
    seeds = np.arange(first_seed, first_seed + episodes)
    for spec, ann_mean, neuron, T, graph, _ in _cells(specs, configs, episodes,
                                                      "fidelity noise floor", progress):
        float_returns = emulated_returns(graph, "float", spec, seeds)
        nudged_returns = emulated_returns(nudged_thresholds(graph, perturbation), "float",
                                          spec, seeds)
        rows.append({"policy": spec.label, "env_id": spec.env_id, "neuron": neuron,
                     "timesteps": T, "alpha": 0.5, "episodes": episodes,
                     "first_seed": first_seed, "perturbation": perturbation,
                     "ann": ann_mean, "float": mean_ci95(float_returns),
                     "nudged": mean_ci95(nudged_returns),
                     "nudged_minus_float_points": mean_ci95(
                         100 * (nudged_returns - float_returns) / abs(ann_mean)),
                     "identical_episodes": int(np.sum(nudged_returns == float_returns))})
    return rows


def format_noise_floor(floor_rows: list[dict], fidelity_rows: list[dict]) -> str:
    """The chaos floor next to the 16-bit fixed point's difference from float, row by row
    (rows matched by policy, neuron and T), and both summarised as in format_fidelity."""
    fixed = {(r["policy"], r["neuron"], r["timesteps"]): r for r in fidelity_rows}
    pairs = [(r, fixed[(r["policy"], r["neuron"], r["timesteps"])]) for r in floor_rows]
    r0 = floor_rows[0]
    lines = [f"Paired return differences in points of the ANN (mean ± 95% CI over "
             f"{r0['episodes']} episodes, reset seeds {r0['first_seed']}..), CRPI alpha 0.5, "
             f"calibration: {CALIBRATION}. Floor: float with every hidden threshold times 1 + "
             f"{r0['perturbation']:g}, minus float; 16-bit: split-weight fixed point minus float "
             "(docs/results/fidelity.md). Same episodes in every column. **bold**: more than "
             f"{WITHIN_POINTS:g} points from 0.", "",
             "| policy | neuron | T | episodes identical (floor) | floor Δ | 16-bit Δ |",
             "|---|---|---|---|---|---|"]

    def delta(value):
        m, ci = value
        text = f"{m:+.1f} ± {ci:.1f}"
        return text if abs(m) <= WITHIN_POINTS else f"**{text}**"
    for r, f in pairs:
        lines.append(f"| {r['policy']} | {r['neuron']} | {r['timesteps']} | "
                     f"{r['identical_episodes']} of {r['episodes']} | "
                     f"{delta(r['nudged_minus_float_points'])} | "
                     f"{delta(f['fixed16_minus_float_points'])} |")
    lines += ["", f"Over all {len(pairs)} rows (mean Δ with its 95% bootstrap CI over the rows):",
              "", f"| difference | rows within {WITHIN_POINTS:g} points | rows whose CI "
              "excludes 0 | mean Δ [95% CI] | mean \|Δ\| | median CI half-width |",
              "|---|---|---|---|---|---|"]
    for label, deltas in (("floor (threshold x (1 + 1e-6))",
                           [r["nudged_minus_float_points"] for r, _ in pairs]),
                          ("16-bit fixed point", [f["fixed16_minus_float_points"]
                                                  for _, f in pairs])):
        d = np.array(deltas)
        mean, low, high = bootstrap_ci(d[:, 0])
        excludes = int(np.sum(np.abs(d[:, 0]) > d[:, 1]))
        lines.append(f"| {label} | {int(np.sum(np.abs(d[:, 0]) <= WITHIN_POINTS))} of {len(d)} | "
                     f"{excludes} | {mean:+.1f} [{low:+.1f}, {high:+.1f}] | "
                     f"{np.mean(np.abs(d[:, 0])):.1f} | {np.median(d[:, 1]):.1f} |")
    return "\n".join(lines) + "\n"


def format_fidelity(rows: list[dict]) -> str:
    lines = [f"Returns (mean ± 95% CI over {rows[0]['episodes']} episodes, reset seeds "
             f"{rows[0]['first_seed']}..; % of the ANN), CRPI alpha 0.5, calibration: "
             f"{CALIBRATION}. Δ: the paired "
             "difference fixed - float per episode in points of the ANN's return (mean ± 95% CI); "
             f"**bold**: more than {WITHIN_POINTS:g} points from float. 8-bit: one stock Dense "
             "per layer; 16-bit: split weights, two (docs/fixed_point.md).", "",
             "| policy | neuron | T | ANN | float | fixed 8-bit | Δ 8-bit | fixed 16-bit | "
             "Δ 16-bit |", "|---|---|---|---|---|---|---|---|---|"]

    def cell(r, key):
        m, ci = r[key]
        return f"{m:.0f} ± {ci:.0f} ({m / r['ann']:.0%})"

    def delta(r, bits):
        m, ci = r[f"fixed{bits}_minus_float_points"]
        text = f"{m:+.1f} ± {ci:.1f}"
        return text if abs(m) <= WITHIN_POINTS else f"**{text}**"
    for r in rows:
        lines.append(f"| {r['policy']} | {r['neuron']} | {r['timesteps']} | {r['ann']:.0f} | "
                     f"{cell(r, 'float')} | {cell(r, 'fixed8')} | {delta(r, 8)} | "
                     f"{cell(r, 'fixed16')} | {delta(r, 16)} |")
    lines += ["", "Over all rows (mean Δ: with its 95% bootstrap CI over the rows; a row's own "
              f"CI is the episode noise of its {rows[0]['episodes']} paired episodes):", "",
              f"| weights | rows within {WITHIN_POINTS:g} points | rows whose Δ CI excludes 0 "
              "(fixed worse) | mean Δ (points) [95% CI] | worst row Δ | mean weight rel. RMS "
              "error |", "|---|---|---|---|---|---|"]
    for bits in WEIGHT_BITS:
        deltas = np.array([r[f"fixed{bits}_minus_float_points"] for r in rows])
        within = int(np.sum(np.abs(deltas[:, 0]) <= WITHIN_POINTS))
        worse = int(np.sum(deltas[:, 0] + deltas[:, 1] < 0))
        mean, low, high = bootstrap_ci(deltas[:, 0])
        rms = np.mean([np.mean(r[f"fixed{bits}_weight_rel_rms"]) for r in rows])
        lines.append(f"| {bits}-bit | {within} of {len(rows)} | {worse} of {len(rows)} | "
                     f"{mean:+.1f} [{low:+.1f}, {high:+.1f}] | {deltas[:, 0].min():+.1f} | "
                     f"{rms:.3%} |")
    return "\n".join(lines) + "\n"
