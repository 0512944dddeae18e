"""The main job: compile the bundled HalfCheetah-v5 TD3 policy to an IF spiking network,
compare ANN vs vanilla SNN vs CRPI in closed loop (writes a bundle, a JSON and a plot), then
run the Loihi fixed-point version on Lava next to the emulator and compare their actions."""
from __future__ import annotations

import json
import pathlib

import numpy as np

from loihi_deploy.compiler.bundle import save_bundle
from loihi_deploy.compiler.calibrate import calibration_rule
from loihi_deploy.compiler.files import atomic_write_text
from loihi_deploy.compiler.ir import MembranePolicy
from loihi_deploy.compiler.quantize import quantize
from loihi_deploy.api import (compile_policy, format_sweep_table, load_ann, plot_sweep, sweep,
                              verify_on_lava)

DEMO_POLICY, DEMO_ENV = "halfcheetah_v5_td3", "HalfCheetah-v5"


def run_demo(out_dir: str = "out/demo", timesteps: int = 16, episodes: int = 30,
             alphas=tuple(np.round(np.arange(0, 1.01, 0.2), 2)), lava_decisions: int = 200) -> dict:
    out = pathlib.Path(out_dir)
    ann = load_ann(DEMO_POLICY, DEMO_ENV)
    print(f"policy {DEMO_POLICY}: {ann.obs_dim} -> "
          f"{' -> '.join(str(h.shape[0]) for h in ann.hidden)} -> {ann.act_dim} (ReLU, tanh head)")
    graph = compile_policy(ann, DEMO_ENV, timesteps, MembranePolicy("crpi", 0.0), progress=True)
    rule = calibration_rule(graph.calibration)
    print(f"calibrated on {graph.calibration['states']} states "
          f"({graph.calibration['episodes']} ANN episodes, {rule})")
    result = sweep(graph, ann, DEMO_ENV, alphas, episodes, progress=True,
                   test_episodes=episodes)
    print(format_sweep_table(result))
    print("(returns: mean and 95% CI half-width over the episodes; float closed-loop rollouts "
          "are chaotic and differ between CPUs, so other machines print other means within "
          "these intervals: docs/reproducibility.md)")
    best = result.held_out.alpha
    significance = "better than vanilla on the held-out episodes by the paired 95% CI" \
        if result.held_out.better else "selected on the selection episodes; on the held-out " \
        "episodes not distinguishable from vanilla"
    fixed = quantize(graph.replace(membrane=MembranePolicy("crpi", best)),
                     np.asarray(graph.calibration["obs_absmax"]))
    bundle = save_bundle(fixed, out / f"halfcheetah_if_t{timesteps}_crpi.h5")
    plot_sweep(result, out / "alpha_sweep.png")
    atomic_write_text(out / "alpha_sweep.json", json.dumps(result.to_json(), indent=1))
    print(f"wrote {bundle} (CRPI alpha {best:g}: {significance}; float + Loihi fixed point), "
          f"{out / 'alpha_sweep.png'}, {out / 'alpha_sweep.json'}")
    if lava_decisions:
        compare_lava(fixed, lava_decisions)
    print(f"next: loihi-deploy run {bundle} --backend lava --episodes 1")
    return result.to_json()


def compare_lava(graph, decisions: int) -> None:
    """Same episode, Lava Loihi2SimCfg fixed_pt vs the emulator: actions must be identical."""
    from loihi_deploy.sim_backend.lava_support import LavaUnavailable
    try:
        check = verify_on_lava(graph, DEMO_ENV, decisions, profile="fixed", progress=True)
    except LavaUnavailable as exc:
        print(f"Lava comparison skipped: {exc}")
        return
    print(f"Loihi fixed point, {check.decisions} decisions on Lava (Loihi2SimCfg) vs the "
          f"emulator: actions identical: {check.identical}; Lava median latency "
          f"{check.lava_latency_ms_median:.1f} ms per decision")
