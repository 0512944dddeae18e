"""Part pacing: real-time paced control on Lava's CPU simulation (Loihi2SimCfg, fixed point).

For each bundled locomotion policy and deployment configuration, one episode of up to
`decisions` decisions runs with `run --backend lava --pace` semantics (runtime.pacing): one
decision per env control period, a late decision counted as a deadline miss (the env holds
the previous action). The table gives the latency distribution per decision and the misses,
for split 16-bit weights (the default: two Dense processes per layer) and 8-bit weights (one):
every Lava process adds messaging to each Lava step (docs/fixed_point.md), so each row also
gives the number of Lava processes, the Lava steps per decision and the median time per step.
"""
from __future__ import annotations

import itertools

import numpy as np

PACING_POLICIES = ("hopper_v5_td3", "walker2d_v5_td3", "halfcheetah_v5_td3", "ant_v5_td3")
PACING_CONFIGS = (("dc:4", 2), ("mt:4", 2), ("mt:4", 4))


def pacing_part(specs, configs=PACING_CONFIGS, decisions: int = 1000,
                weight_bits=(16, 8)) -> list[dict]:
    from loihi_deploy.api import compile_policy, load_ann, run_backend
    from loihi_deploy.compiler.ir import MembranePolicy, NeuronModel
    from loihi_deploy.sim_backend.lava_graph import emit_lava
    rows = []
    for spec in specs:
        ann = load_ann(spec.policy, spec.env_id, spec.env_kwargs)
        for (neuron, T), bits in itertools.product(configs, weight_bits):
            graph = compile_policy(ann, spec.env_id, T, MembranePolicy("crpi", 0.5),
                                   profile="fixed", neuron=NeuronModel.parse(neuron),
                                   env_kwargs=spec.env_kwargs, weight_bits=bits)
            run = run_backend(graph, None, 1, backend="lava", pace=True,
                              max_steps=decisions)
            latency_ms = 1e3 * np.asarray(run.latencies_s)
            net = emit_lava(graph)   # built, not run: its process count and period
            processes = 2 + len(net.layers) + len(net.denses)   # + HostInput and readout
            rows.append({"policy": spec.label, "env_id": spec.env_id, "neuron": neuron,
                         "timesteps": T, "weight_bits": bits, "period_ms": 1e3 * run.period_s,
                         "decisions": int(latency_ms.size), "lava_processes": processes,
                         "lava_steps": net.period,
                         "ms_per_step": float(np.median(latency_ms)) / net.period,
                         "median_ms": float(np.median(latency_ms)),
                         "p95_ms": float(np.percentile(latency_ms, 95)),
                         "p99_ms": float(np.percentile(latency_ms, 99)),
                         "max_ms": float(latency_ms.max()),
                         "deadline_misses": int(run.deadline_misses),
                         "return": float(run.returns[0])})
    return rows


def format_pacing(rows: list[dict]) -> str:
    lines = ["Lava CPU simulation (Loihi2SimCfg, fixed point), one paced episode per row "
             "(`loihi-deploy run BUNDLE --backend lava --pace`): latency per decision from the "
             "observation to the action, and deadline misses at the env's control period.", "",
             "| policy | period (ms) | neuron | T | weights | Lava processes | steps per "
             "decision | decisions | median / p95 / p99 / max (ms) | median ms per step | "
             "misses | return |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['policy']} | {r['period_ms']:.0f} | {r['neuron']} | "
                     f"{r['timesteps']} | {r['weight_bits']}-bit | {r['lava_processes']} | "
                     f"{r['lava_steps']} | {r['decisions']} | {r['median_ms']:.1f} / "
                     f"{r['p95_ms']:.1f} / {r['p99_ms']:.1f} / {r['max_ms']:.1f} | "
                     f"{r['ms_per_step']:.2f} | {r['deadline_misses']} | {r['return']:.0f} |")
    return "\n".join(lines) + "\n"
