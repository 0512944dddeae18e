"""Part fidelity: float vs Loihi fixed-point returns."""
from __future__ import annotations

import numpy as np

from loihi_deploy.api import evaluate_ann
from loihi_deploy.stats import mean_ci95
from loihi_deploy.studies.bench.common import calibrated_graph


def fidelity_part(specs, episodes: int, configs) -> list[dict]:
    """Float vs fixed-point returns, vanilla and CRPI 0.5, same seeds."""
    from loihi_deploy.compiler.quantize import quantize
    from loihi_deploy.runtime.closed_loop import run_episodes
    from loihi_deploy.sim_backend.emulator import Emulator
    rows, cache = [], {}
    seeds = np.array(list(range(100, 100 + episodes)))
    for spec in specs:
        for neuron, T in configs:
            ann, graph, cal = calibrated_graph(spec, cache, neuron, T)
            graph = quantize(graph, np.asarray(cal.info["obs_absmax"]))
            row = {"policy": spec.label, "env_id": spec.env_id, "neuron": str(graph.neuron),
                   "timesteps": T, "episodes": episodes,
                   "ann": mean_ci95(evaluate_ann(ann, spec.env_id, episodes,
                                                 env_kwargs=spec.env_kwargs))[0]}
            for profile in ("float", "fixed"):
                emulator = Emulator(graph, 2 * episodes, profile=profile,
                                    alpha=np.repeat([0.0, 0.5], episodes))
                returns = run_episodes(emulator, spec.env_id, np.tile(seeds, 2),
                                       env_kwargs=spec.env_kwargs).returns
                row[f"{profile}_vanilla"] = mean_ci95(returns[:episodes])
                row[f"{profile}_crpi"] = mean_ci95(returns[episodes:])
                row[f"{profile}_saturations"] = emulator.fixed_point_events()[0]
            rows.append(row)
    return rows


def format_fidelity(rows: list[dict]) -> str:
    lines = ["Returns (mean ± 95% CI, % of the ANN); CRPI alpha 0.5; same reset seeds.", "",
             "| policy | neuron | T | float vanilla | fixed vanilla | float CRPI | fixed CRPI |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r[k][0]:.0f} ± {r[k][1]:.0f} ({r[k][0] / r['ann']:.0%})" for k in
                 ("float_vanilla", "fixed_vanilla", "float_crpi", "fixed_crpi")]
        lines.append(f"| {r['policy']} | {r['neuron']} | {r['timesteps']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
