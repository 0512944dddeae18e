"""Part cost: events and synaptic operations per decision, energy estimates."""
from __future__ import annotations

import numpy as np

from loihi_deploy.compiler.ir import MembranePolicy
from loihi_deploy.studies.bench.common import calibrated_graph


ENERGY_PJ = {"sop": 23.6, "active_update": 81.0, "inactive_update": 52.0, "spike": 1.7}
ENERGY_SOURCE = ("Loihi 1, Davies et al. 2018 Table 2 (0.75 V): 23.6 pJ per synaptic op, 81 / "
                 "52 pJ per active / inactive neuron update, 1.7 pJ per within-tile spike")
# the pixel-task report's figures (docs/conversion.md section 6)
ALT_SOP_PJ, ANN_FLOP_PJ = 0.077, 12.5


def decision_cost(ann, graph, env_id: str, seeds, alpha: float) -> dict:
    """Events, synaptic ops and energy estimates per decision, averaged over the decisions of
    real closed-loop episodes (rows counted only while their episode runs)."""
    from loihi_deploy.runtime.closed_loop import run_episodes
    from loihi_deploy.sim_backend.emulator import Emulator

    from loihi_deploy.compiler.hardware import fan_out, synapse_count
    synapses = [*(h.synapse for h in graph.hidden), graph.readout]
    fanouts = [fan_out(syn) for syn in synapses]    # per input entry of each layer

    class Counting(Emulator):
        def act(self, obs):
            actions = super().act(obs)
            # synaptic ops: every event (and every non-zero observation payload) reaches
            # each of its sender's out-going synapses
            self.sops_log.append(sum(c @ f for c, f in zip(self.last_event_counts,
                                                           fanouts[1:])))
            self.input_log.append((obs != 0) @ fanouts[0])
            self.events_log.append([c.sum(axis=1) for c in self.last_event_counts])
            return actions
    emulator = Counting(graph, len(seeds), alpha=alpha)
    emulator.events_log, emulator.sops_log, emulator.input_log = [], [], []
    lengths = run_episodes(emulator, env_id, seeds, env_kwargs=graph.env_kwargs).lengths
    events = np.array(emulator.events_log)           # (K, layers, B)
    alive = np.arange(len(events))[:, None] < lengths[None, :]
    per_layer = (events * alive[:, None, :]).sum(axis=(0, 2)) / alive.sum()
    input_steps = 1 if graph.neuron.coding == "differential" else graph.timesteps
    input_ops = input_steps * float((np.array(emulator.input_log) * alive).sum() / alive.sum())
    sops = float((np.array(emulator.sops_log) * alive).sum() / alive.sum()) + input_ops
    updates = graph.timesteps * sum(h.synapse.shape[0] for h in graph.hidden)
    spikes = float(per_layer.sum())
    energy = (ENERGY_PJ["sop"] * sops + ENERGY_PJ["active_update"] * spikes
              + ENERGY_PJ["inactive_update"] * (updates - spikes) + ENERGY_PJ["spike"] * spikes)
    flops = 2 * sum(synapse_count(h) for h in (*ann.hidden, ann.readout))
    return {"events_per_decision": spikes, "events_per_layer": per_layer.round(2).tolist(),
            "sops_per_decision": sops, "input_ops_per_decision": input_ops,
            "neuron_updates_per_decision": updates, "energy_uj": energy * 1e-6,
            "energy_alt_uj": ALT_SOP_PJ * sops * 1e-6, "ann_flops": flops,
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
             f"op each. Lava latency: Loihi2SimCfg on this CPU, fixed point, first policy.", "",
             "| policy | neuron | T | events | synaptic ops | energy (uJ) | alt (uJ) | ANN FLOPs "
             "| ANN (uJ) | Lava ms |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lava = f"{r['lava_latency_ms']:.1f}" if "lava_latency_ms" in r else ""
        lines.append(f"| {r['policy']} | {r['neuron']} | {r['timesteps']} | "
                     f"{r['events_per_decision']:.0f} | {r['sops_per_decision']:.3g} | "
                     f"{r['energy_uj']:.2f} | {r['energy_alt_uj']:.3f} | {r['ann_flops']:.3g} | "
                     f"{r['ann_energy_uj']:.2f} | {lava} |")
    return "\n".join(lines) + "\n"
