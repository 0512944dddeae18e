"""Part simulator: emulator vs Lava vs a per-sample loop, and scaling."""
from __future__ import annotations

import numpy as np

from loihi_deploy.compiler.ir import MembranePolicy
from loihi_deploy.studies.bench.common import PolicySpec, calibrated_graph


def simulator_part(spec: PolicySpec, quick: bool) -> dict:
    from loihi_deploy.compiler.quantize import quantize
    from loihi_deploy.studies import perf
    ann, graph, cal = calibrated_graph(spec, {}, "if", 8 if quick else 32)
    fixed = quantize(graph, np.asarray(cal.info["obs_absmax"]))
    alphas = [0.0, 0.5, 1.0] if quick else list(np.linspace(0, 1, 11).round(3))
    sweep_rows = perf.sweep_speed(fixed, spec.env_id, alphas, 2 if quick else 10)
    lava_graph = fixed.replace(timesteps=16, membrane=MembranePolicy("crpi", 0.5))
    lava_rows = perf.lava_speed(lava_graph, ann, spec.env_id, 20 if quick else 100,
                                16 if quick else 256)
    scaling = perf.scaling(batches=(1, 16) if quick else (1, 16, 64, 256),
                           timesteps=(4, 16) if quick else (4, 16, 64),
                           widths=(64, 256) if quick else (64, 256, 1024),
                           min_seconds=0.1 if quick else 0.5)
    return {"policy": spec.label, "env_id": spec.env_id, "sweep_T": graph.timesteps,
            "sweep_alphas": len(alphas), "sweep": sweep_rows, "lava": lava_rows,
            "scaling": scaling}


def format_simulator(result: dict) -> str:
    lines = [f"Full alpha sweep on {result['policy']} (IF T={result['sweep_T']}, "
             f"{result['sweep_alphas']} alphas, env stepping included), timed in one run:", "",
             "| method | seconds | speed-up vs loop |", "|---|---|---|"]
    lines += [f"| {r['method']} | {r['seconds']:.1f} | {r['speedup_vs_loop']:.1f}x |"
              for r in result["sweep"]]
    lines += ["", "Emulator (batched) vs Lava Loihi2SimCfg (one decision at a time), IF T=16, "
              "open-loop replay of ANN-visited observations:", "",
              "| profile | batch | emulator decisions/s | Lava decisions/s | ratio | Lava "
              "latency median / p95 (ms) | Lava == emulator |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['profile']} | {r['batch']} | {r['emulator_decisions_per_s']:.0f} | "
              f"{r['lava_decisions_per_s']:.1f} | {r['ratio']:.0f}x | "
              f"{r['lava_latency_ms_median']:.1f} / {r['lava_latency_ms_p95']:.1f} | "
              f"{r['lava_equals_emulator']} |" for r in result["lava"]]
    lines += ["", "Scaling (synthetic 17-W-W-6 networks, microseconds per decision per sample; "
              "the emulator in float64 and in float32, the precision of the torch loop, which "
              "runs batch 1; speed-ups over the loop):", "",
              "| varied | batch | T | width | emulator us | float32 us | torch loop us | "
              "speed-up | float32 speed-up |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["scaling"]:
        cells = [f"{r['emulator_float32_us']:.1f}" if "emulator_float32_us" in r else "",
                 f"{r['torch_loop_us']:.0f}" if "torch_loop_us" in r else "",
                 f"{r['speedup']:.1f}x" if "speedup" in r else "",
                 f"{r['speedup_float32']:.1f}x" if "speedup_float32" in r else ""]
        lines.append(f"| {r['vary']} | {r['batch']} | {r['timesteps']} | {r['width']} | "
                     f"{r['emulator_us']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
