"""The main job: compile the bundled HalfCheetah-v5 TD3 policy to an IF spiking network and
compare ANN vs vanilla SNN vs CRPI in closed loop; writes a bundle, a JSON and a plot."""
from __future__ import annotations

import json
import pathlib

import numpy as np

from compiler.bundle import save_bundle
from compiler.ir import MembranePolicy
from loihi_deploy.api import compile_policy, format_sweep_table, load_ann, plot_sweep, sweep

DEMO_POLICY, DEMO_ENV = "halfcheetah_v5_td3", "HalfCheetah-v5"


def run_demo(out_dir: str = "out/demo", timesteps: int = 8, episodes: int = 10,
             alphas=tuple(np.round(np.arange(0, 1.01, 0.2), 2))) -> dict:
    out = pathlib.Path(out_dir)
    ann = load_ann(DEMO_POLICY, DEMO_ENV)
    print(f"policy {DEMO_POLICY}: {ann.obs_dim} -> "
          f"{' -> '.join(str(h.shape[0]) for h in ann.hidden)} -> {ann.act_dim} (ReLU, tanh head)")
    graph = compile_policy(ann, DEMO_ENV, timesteps, MembranePolicy("crpi", 0.0), progress=True)
    print(f"calibrated on {graph.calibration['states']} states "
          f"({graph.calibration['episodes']} ANN episodes, per-neuron max)")
    result = sweep(graph, ann, DEMO_ENV, alphas, episodes, progress=True)
    print(format_sweep_table(result))
    best = result.alphas[result.best_alpha_index]
    bundle = save_bundle(graph.replace(membrane=MembranePolicy("crpi", best)),
                         out / "halfcheetah_if_t8_crpi.h5")
    plot_sweep(result, out / "alpha_sweep.png")
    (out / "alpha_sweep.json").write_text(json.dumps(result.to_json(), indent=1))
    print(f"wrote {bundle} (CRPI alpha {best:g}), {out / 'alpha_sweep.png'}, "
          f"{out / 'alpha_sweep.json'}")
    print(f"run it again with: loihi-deploy run {bundle} --episodes 10")
    return result.to_json()
