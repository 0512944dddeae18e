"""Part calibration: how much the deployed return depends on the calibration seed.

For each policy, calibration method, calibration seed and neuron config, the SNN (CRPI alpha
0.5, fixed: nothing is tuned here) runs the same evaluation episodes (reset seeds 100..) in
float and in Loihi fixed point. Per (policy, method, config, profile) the table gives the mean
over calibration seeds of the mean return, the seed-to-seed spread (standard deviation of the
per-seed means) and the episode 95% CI of one seed's mean (their average): a calibration is
insensitive to its seed when the spread is no larger than that CI (docs/calibration.md).

Methods (compiler.calibrate, loihi_deploy.api.calibrate_policy): "max" (the paper's per-neuron
maximum over 10 ANN episodes), "p99.9" (the per-neuron 99.9th percentile over the same
states), "emax90" (per neuron, the 90th percentile over the episodes of each episode's
maximum: --calib-method episode-max), "max+snn" (the maximum over the ANN's states and the
states the converted SNN visits in closed loop from the same reset seeds). A method name may
end in "@N": the same method on N ANN episodes instead of CALIB_EPISODES ("max@50": the
maximum over 50 episodes, reset seeds seed..seed+49).
"""
from __future__ import annotations

import numpy as np

from loihi_deploy.stats import group_effect, mean_ci95

CALIB_SEEDS = (0, 1000, 2000, 3000, 4000)
CALIB_METHODS = ("max", "emax90@50", "p99.9@50")   # the paper's, the default, the runner-up
CALIB_CONFIGS = (("if", 16), ("mt:4", 2), ("dc:4", 2))
CALIB_EPISODES = 10
FLOOR_NUDGES = (0.0, 1e-6, 2e-6, 3e-6, 4e-6)   # calibration_floor_part: threshold changes


PERCENTILE_METHODS = {"p": "percentile", "emax": "episode-max"}   # name prefix -> method


def method_episodes(method: str) -> tuple[str, float | None, int]:
    """Method name -> (method, percentile, episodes): "max@50" -> ("max", None, 50),
    "p99.9" -> ("percentile", 99.9, CALIB_EPISODES), "emax90@50" -> ("episode-max", 90.0,
    50), "max+snn" -> ("max+snn", None, CALIB_EPISODES)."""
    name, at, episodes = method.partition("@")
    kind, percentile = name, None
    for prefix, calib_method in PERCENTILE_METHODS.items():
        if name.startswith(prefix):
            kind, percentile = calib_method, _number(name[len(prefix):])
    valid_name = name in ("max", "max+snn") or (percentile is not None and 0 < percentile <= 100)
    if not valid_name or (at and not (episodes.isdigit() and int(episodes) > 0)):
        raise ValueError(f"unknown calibration method {method!r}: max, pQ (percentile Q), "
                         f"emaxQ (percentile Q of the episodes' maxima) or max+snn, "
                         f"optionally @EPISODES")
    return kind, percentile, int(episodes) if at else CALIB_EPISODES


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _calibration(ann, spec, method: str, seed: int, neuron, T: int):
    """Thresholds by `method` from the states of its ANN episodes (method_episodes) from reset
    seed `seed` (and, for max+snn, those the converted SNN (neuron, T) visits from the same
    seeds)."""
    from loihi_deploy.api import calibrate_policy
    from loihi_deploy.compiler.calibrate import calibrate
    from loihi_deploy.compiler.convert import convert
    from loihi_deploy.compiler.ir import MembranePolicy
    from loihi_deploy.runtime.closed_loop import AnnController, visited_states
    from loihi_deploy.sim_backend.emulator import Emulator
    env = dict(env_kwargs=spec.env_kwargs)
    name, percentile, episodes = method_episodes(method)
    if name != "max+snn":
        return calibrate_policy(ann, spec.env_id, episodes, seed, name, percentile, **env)
    ann_states = visited_states(AnnController(ann), spec.env_id, episodes, seed, **env)
    info = {"env_id": spec.env_id, "env_kwargs": spec.env_kwargs, "episodes": episodes,
            "seed": seed}
    first = calibrate(ann, ann_states, "max", info=info)
    graph = convert(ann, first, T, MembranePolicy("crpi", 0.5), spec.env_id, neuron)
    snn_states = visited_states(Emulator(graph, episodes), spec.env_id, episodes, seed, **env)
    return calibrate(ann, np.concatenate([ann_states, snn_states]), "max", info=info)


def calibration_part(specs, episodes: int, seeds=CALIB_SEEDS, methods=CALIB_METHODS,
                     configs=CALIB_CONFIGS, progress: bool = True) -> list[dict]:
    from tqdm.auto import tqdm

    from loihi_deploy.api import evaluate_ann, load_ann
    from loihi_deploy.compiler.convert import convert
    from loihi_deploy.compiler.ir import MembranePolicy, NeuronModel
    from loihi_deploy.compiler.quantize import quantize
    from loihi_deploy.runtime.closed_loop import run_episodes_parallel
    from loihi_deploy.sim_backend.emulator import Emulator
    eval_seeds = 100 + np.arange(episodes)
    rows = []
    bar = tqdm(total=len(specs) * len(methods) * len(seeds) * len(configs), unit="cell",
               desc="bench calibration", disable=not progress)
    for spec in specs:
        ann = load_ann(spec.policy, spec.env_id, spec.env_kwargs)
        ann_mean = mean_ci95(evaluate_ann(ann, spec.env_id, episodes, 100,
                                          env_kwargs=spec.env_kwargs))[0]
        for method in methods:
            cells: dict = {}
            for seed in seeds:
                shared = None if method_episodes(method)[0] == "max+snn" else \
                    _calibration(ann, spec, method, seed, None, 0)
                for neuron_text, T in configs:
                    neuron = NeuronModel.parse(neuron_text)
                    cal = shared or _calibration(ann, spec, method, seed, neuron, T)
                    graph = convert(ann, cal, T, MembranePolicy("crpi", 0.5), spec.env_id,
                                    neuron)
                    graph = quantize(graph, np.asarray(cal.info["obs_absmax"]))
                    for profile in ("float", "fixed"):
                        returns = run_episodes_parallel(
                            lambda rows_, g=graph, p=profile: Emulator(g, len(rows_), profile=p),
                            spec.env_id, eval_seeds, env_kwargs=spec.env_kwargs).returns
                        cells.setdefault((str(neuron), T, profile), []).append(returns)
                    bar.update(1)
                    bar.set_postfix_str(f"{spec.label} {method} seed {seed} {neuron} T={T}")
            for (neuron, T, profile), per_seed in cells.items():
                rows.append({"policy": spec.label, "env_id": spec.env_id, "method": method,
                             "neuron": neuron, "timesteps": T, "profile": profile,
                             "episodes": episodes, "calib_seeds": list(seeds), "ann": ann_mean,
                             **_spread(per_seed)})
    bar.close()
    return rows


def calibration_floor_part(specs, episodes: int, nudges=FLOOR_NUDGES, method: str = "emax90@50",
                           configs=CALIB_CONFIGS, seed: int = 0,
                           progress: bool = True) -> list[dict]:
    """calibration_part's chaos floor: one calibration (`method`, calibration seed `seed`)
    and, in place of the calibration seeds, its thresholds times 1 + nudge for each of
    `nudges` (0 and steps of 1e-6) before quantising; the same evaluation episodes. Rows as
    calibration_part's (format_calibration renders them); "spread" is then what a one-in-a-
    million change makes, where calibration seeds changed thresholds by up to 10x
    (docs/calibration.md, "The criterion's floor"). fixed_integers_changed: per nudge, how
    many of the fixed profile's integers (weights, low weights, biases, thresholds) differ
    from the unnudged ones (the thresholds set each neuron's scale, so weights round anew)."""
    from tqdm.auto import tqdm

    from loihi_deploy.api import evaluate_ann, load_ann
    from loihi_deploy.compiler.convert import convert
    from loihi_deploy.compiler.ir import MembranePolicy, NeuronModel
    from loihi_deploy.compiler.quantize import quantize
    from loihi_deploy.runtime.closed_loop import run_episodes_parallel
    from loihi_deploy.sim_backend.emulator import Emulator
    from loihi_deploy.studies.bench.common import nudged_thresholds
    eval_seeds = 100 + np.arange(episodes)
    rows = []
    bar = tqdm(total=len(specs) * len(nudges) * len(configs), unit="cell",
               desc="calibration floor", disable=not progress)
    for spec in specs:
        ann = load_ann(spec.policy, spec.env_id, spec.env_kwargs)
        ann_mean = mean_ci95(evaluate_ann(ann, spec.env_id, episodes, 100,
                                          env_kwargs=spec.env_kwargs))[0]
        cal = _calibration(ann, spec, method, seed, None, 0)
        for neuron_text, T in configs:
            neuron = NeuronModel.parse(neuron_text)
            graph = convert(ann, cal, T, MembranePolicy("crpi", 0.5), spec.env_id, neuron)
            cells, integers = {}, []
            for nudge in nudges:
                fixed = quantize(nudged_thresholds(graph, nudge),
                                 np.asarray(cal.info["obs_absmax"]))
                integers.append(np.concatenate([
                    np.ravel(a) for f in fixed.fixed.hidden
                    for a in (f.weight, f.bias_mant, f.vth_mant, f.weight_low) if a is not None]))
                for profile in ("float", "fixed"):
                    returns = run_episodes_parallel(
                        lambda rows_, g=fixed, p=profile: Emulator(g, len(rows_), profile=p),
                        spec.env_id, eval_seeds, env_kwargs=spec.env_kwargs).returns
                    cells.setdefault(profile, []).append(returns)
                bar.update(1)
                bar.set_postfix_str(f"{spec.label} {neuron} T={T} nudge {nudge:g}")
            for profile, per_nudge in cells.items():
                rows.append({"policy": spec.label, "env_id": spec.env_id,
                             "method": f"{method} x (1 + nudge)", "neuron": str(neuron),
                             "timesteps": T, "profile": profile, "episodes": episodes,
                             "calib_seeds": [seed], "threshold_nudges": list(nudges),
                             "fixed_integers_changed": [int(np.sum(i != integers[0]))
                                                        for i in integers],
                             "fixed_integers": int(integers[0].size), "ann": ann_mean,
                             **_spread(per_nudge)})
    bar.close()
    return rows


def _spread(per_variant: list) -> dict:
    """A row's statistics from the evaluation returns of each variant (calibration seed or
    nudge): per-variant means, their mean and std (the spread), the episode CI of one
    variant's mean (their average), the returns."""
    means = np.array([r.mean() for r in per_variant])
    return {"seed_means": means.round(2).tolist(), "mean": float(means.mean()),
            "seed_spread_std": float(means.std(ddof=1)),
            "episode_ci95": float(np.mean([mean_ci95(r)[1] for r in per_variant])),
            "returns": [np.round(r, 2).tolist() for r in per_variant]}


def format_calibration(rows: list[dict]) -> str:
    lines = ["Deployed return (CRPI alpha 0.5, nothing tuned) over calibration seeds "
             f"{', '.join(map(str, rows[0]['calib_seeds']))} (ANN episodes each: "
             f"{CALIB_EPISODES}, or N for a method named @N), "
             f"{rows[0]['episodes']} evaluation episodes per seed (reset seeds 100..). mean: "
             "over seeds of the mean return (% of the ANN); spread: std of the per-seed means; "
             "CI: the episode 95% CI of one seed's mean (average over seeds). **bold** spread: "
             "larger than the CI (the seed matters more than the episode noise). seed effect: "
             "the spread left after subtracting what episode noise explains, and p: the F "
             "test that the seed has no effect (one-way ANOVA, stats.group_effect); p < 0.05 "
             "flags about 1 row in 20 by chance alone.", "",
             "| policy | method | neuron | T | profile | mean (% ANN) | spread | CI | "
             "spread <= CI | seed effect | p |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    effects = {id(r): group_effect(r["returns"]) for r in rows}     # (std, p) per row
    for r in rows:
        ok = r["seed_spread_std"] <= r["episode_ci95"]
        spread = f"{r['seed_spread_std']:.0f}" if ok else f"**{r['seed_spread_std']:.0f}**"
        effect, p_value = effects[id(r)]
        lines.append(f"| {r['policy']} | {r['method']} | {r['neuron']} | {r['timesteps']} | "
                     f"{r['profile']} | {r['mean']:.0f} ({r['mean'] / r['ann']:.0%}) | "
                     f"{spread} | {r['episode_ci95']:.0f} | {'yes' if ok else 'no'} | "
                     f"{effect:.0f} | {p_value:.2g} |")
    lines += ["", "Per method and profile, over every policy and config: rows with spread <= CI, "
              "rows where the seed's effect is detectable (p < 0.05), the median seed effect "
              "in % of the ANN's return, and the mean ratio to the ANN:", "",
              "| method | profile | spread <= CI | p < 0.05 | median seed effect | mean % ANN |",
              "|---|---|---|---|---|---|"]
    for method in dict.fromkeys(r["method"] for r in rows):
        for profile in ("float", "fixed"):
            mine = [r for r in rows if r["method"] == method and r["profile"] == profile]
            if mine:
                ok = sum(r["seed_spread_std"] <= r["episode_ci95"] for r in mine)
                detected = sum(effects[id(r)][1] < 0.05 for r in mine)
                effect = np.median([effects[id(r)][0] / r["ann"] for r in mine])
                ratio = np.mean([r["mean"] / r["ann"] for r in mine])
                lines.append(f"| {method} | {profile} | {ok} of {len(mine)} | {detected} of "
                             f"{len(mine)} | {effect:.1%} | {ratio:.1%} |")
    return "\n".join(lines) + "\n"
