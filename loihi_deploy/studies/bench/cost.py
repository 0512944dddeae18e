"""Part cost: events and synaptic operations per decision, energy estimates."""
from __future__ import annotations

import numpy as np

from loihi_deploy.compiler.hardware import ENERGY_SOURCE
from loihi_deploy.compiler.ir import MembranePolicy
from loihi_deploy.studies.bench.common import CALIBRATION, calibrated_graph

# the pixel-task report's figures (docs/conversion.md section 6)
ALT_SOP_PJ, ANN_FLOP_PJ = 0.077, 12.5


def decision_cost(ann, graph, env_id: str, seeds, alpha: float) -> dict:
    """Events, synaptic ops and energy estimates per decision (api.measure_decision_cost),
    next to the ANN's FLOPs and their energy at the report's figure."""
    from loihi_deploy.api import measure_decision_cost
    from loihi_deploy.compiler.hardware import synapse_count
    cost, _ = measure_decision_cost(graph, seeds, env_id, alpha=alpha)
    flops = 2 * sum(synapse_count(h) for h in (*ann.hidden, ann.readout))
    return {"events_per_decision": cost.events, "events_per_layer": cost.events_per_layer,
            "sops_per_decision": cost.synaptic_ops, "input_ops_per_decision": cost.input_ops,
            "neuron_updates_per_decision": cost.neuron_updates, "energy_uj": cost.energy_uj,
            "energy_alt_uj": ALT_SOP_PJ * cost.synaptic_ops * 1e-6, "ann_flops": flops,
            "ann_energy_uj": ANN_FLOP_PJ * flops * 1e-6}


def cost_part(specs, episodes: int, configs, lava_decisions: int) -> list[dict]:
    from loihi_deploy.api import verify_on_lava
    from loihi_deploy.compiler.quantize import quantize
    rows, cache = [], {}
    seeds = list(range(100, 100 + episodes))
    for spec in specs:
        for neuron, T in configs:
            ann, graph, cal = calibrated_graph(spec, cache, neuron, T)
            row = {"policy": spec.label, "env_id": spec.env_id, "neuron": str(graph.neuron),
                   "timesteps": T, "alpha": 0.5, **decision_cost(ann, graph, spec.env_id,
                                                                 seeds, 0.5)}
            if lava_decisions and spec is specs[0]:
                fixed = quantize(graph.replace(membrane=MembranePolicy("crpi", 0.5)),
                                 np.asarray(cal.info["obs_absmax"]))
                v = verify_on_lava(fixed, spec.env_id, lava_decisions)
                row["lava_latency_ms"] = v.lava_latency_ms_median
                row["lava_identical"] = v.identical
            rows.append(row)
    return rows


def format_cost(rows: list[dict]) -> str:
    lines = [f"Per decision, CRPI alpha 0.5, mean over the decisions of the episodes. Energy "
             f"is an ESTIMATE: {ENERGY_SOURCE}; 'alt' = {ALT_SOP_PJ * 1000:g} fJ per synaptic "
             f"op and the ANN at {ANN_FLOP_PJ:g} pJ per FLOP (figures of the pixel-task "
             f"report, docs/conversion.md section 6). Graded (multi-bit) events are counted as one synaptic "
             f"op each. Lava latency: Loihi2SimCfg on this CPU, fixed point, first policy. "
             f"Calibration: {CALIBRATION}.", "",
             "| policy | neuron | T | events | synaptic ops | energy (uJ) | alt (uJ) | ANN FLOPs "
             "| ANN (uJ) | Lava ms |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lava = f"{r['lava_latency_ms']:.1f}" if "lava_latency_ms" in r else ""
        lines.append(f"| {r['policy']} | {r['neuron']} | {r['timesteps']} | "
                     f"{r['events_per_decision']:.0f} | {r['sops_per_decision']:.3g} | "
                     f"{r['energy_uj']:.2f} | {r['energy_alt_uj']:.3f} | {r['ann_flops']:.3g} | "
                     f"{r['ann_energy_uj']:.2f} | {lava} |")
    return "\n".join(lines) + "\n"
