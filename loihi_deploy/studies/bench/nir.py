"""Part nir: what NIR's semantics cost in closed loop, and snnTorch running the export.

One policy at IF T=16 (docs/nir.md): the deployed bundle (soft reset, theta/2 start, CRPI 0.5
and vanilla) against the same network under NIR's semantics (reset to 0, every decision from
0: compiler.export_nir.nir_semantics on the emulator) and against snnTorch running the
exported NIR file (sim_backend.snntorch_nir), on the same reset seeds; plus snnTorch vs the
emulator, decision by decision, on the observations of one ANN episode.
"""
from __future__ import annotations

import tempfile

import numpy as np

from loihi_deploy.stats import mean_ci95
from loihi_deploy.studies.bench.common import CALIBRATION, calibrated_graph

NIR_CONFIG = ("if", 16)


def nir_part(spec, episodes: int) -> dict:
    from loihi_deploy.api import evaluate_ann
    from loihi_deploy.compiler.export_nir import export_nir, nir_semantics
    from loihi_deploy.compiler.ir import MembranePolicy
    from loihi_deploy.runtime.closed_loop import AnnController, run_episodes
    from loihi_deploy.sim_backend.emulator import Emulator
    from loihi_deploy.sim_backend.snntorch_nir import SnnTorchController, snntorch_available
    ann, graph, _ = calibrated_graph(spec, {}, *NIR_CONFIG)
    seeds = np.arange(100, 100 + episodes)
    env = dict(env_kwargs=spec.env_kwargs)

    def closed_loop(controller) -> np.ndarray:
        return run_episodes(controller, spec.env_id, seeds, **env).returns
    returns = {"ANN": evaluate_ann(ann, spec.env_id, episodes, 100, **env)}
    for label, membrane in (("deployed, CRPI 0.5", MembranePolicy("crpi", 0.5)),
                            ("deployed, vanilla", MembranePolicy("vanilla"))):
        returns[label] = closed_loop(Emulator(graph.replace(membrane=membrane), episodes))
    nir_graph = nir_semantics(graph)
    returns["NIR semantics (emulator)"] = closed_loop(Emulator(nir_graph, episodes))
    result = {"policy": spec.label, "env_id": spec.env_id, "neuron": NIR_CONFIG[0],
              "timesteps": NIR_CONFIG[1], "episodes": episodes}
    available, reason = snntorch_available()
    if available:
        import snntorch
        with tempfile.TemporaryDirectory() as tmp:
            path = export_nir(graph, f"{tmp}/policy.nir")
            snn = SnnTorchController(path)
            returns["NIR file in snnTorch"] = closed_loop(snn)
            states = run_episodes(AnnController(ann), spec.env_id, seeds[:1], record=True,
                                  **env).observations[0]
            emulator = Emulator(nir_graph, len(states))
            emulator.reset()
            diff = np.abs(snn.act(states) - emulator.act(states))
        result["snntorch"] = {"version": snntorch.__version__, "decisions": len(states),
                              "max_abs_action_diff": float(diff.max())}
    else:
        result["snntorch"] = {"missing": reason}
    reference = returns["deployed, CRPI 0.5"]
    result["rows"] = [{"controller": label, "mean": mean_ci95(r)[0], "ci95": mean_ci95(r)[1],
                       "paired_diff_vs_deployed": list(mean_ci95(r - reference))
                       if label != "deployed, CRPI 0.5" else None,
                       "returns": np.round(r, 3).tolist()} for label, r in returns.items()]
    return result


def format_nir(result: dict) -> str:
    lines = [f"{result['policy']} ({result['env_id']}), {result['neuron'].upper()} "
             f"T={result['timesteps']}, {result['episodes']} episodes (reset seeds 100..), "
             f"closed loop, calibration: {CALIBRATION}. Mean ± 95% CI; paired difference to "
             "the deployed bundle ± 95% CI.",
             "", "| controller | return | paired diff vs deployed (CRPI 0.5) |", "|---|---|---|"]
    for row in result["rows"]:
        diff = row["paired_diff_vs_deployed"]
        lines.append(f"| {row['controller']} | {row['mean']:.0f} ± {row['ci95']:.0f} | "
                     + (f"{diff[0]:+.0f} ± {diff[1]:.0f}" if diff else "(reference)") + " |")
    snn = result["snntorch"]
    lines.append("")
    lines.append(f"snnTorch {snn['version']} vs the emulator under NIR semantics, decision by "
                 f"decision on {snn['decisions']} ANN-visited observations: max |action "
                 f"difference| {snn['max_abs_action_diff']:.2g}." if "version" in snn else
                 f"snnTorch: {snn['missing']}")
    return "\n".join(lines) + "\n"
