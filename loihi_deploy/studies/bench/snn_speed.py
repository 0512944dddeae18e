"""Part snn_speed: seconds per predictive-control training iteration of the spiking controller,
old vs new side by side in one run (docs/snn_control.md, "Training speed"). Rows:
  before        autograd through every substep, the surrogate's Gaussians evaluated in full
                (subnormal floats included): the code before the speed work;
  per-substep   the same with the surrogate's cut-off (the reference path of today);
  fused         each layer's substeps as one autograd node, op by op;
  compiled      the same, torch.compile'd (train-snn's default).
Each row trains `iterations` iterations on the Panda task from the same seed; the first
iteration includes compiling (torch.compile caches its kernels on disk, so a second run starts
faster), the table's steady figure is the mean of the later ones. The runs' prediction MSEs
are printed too: the paths compute the same function, so they match up to float32 rounding
(spikes are thresholds, so rare rounding flips can grow over a run).
"""
from __future__ import annotations

import contextlib
import json
import math
import tempfile

import torch

# (row label, train-snn --kernels, the surrogate's cut-off; None: the code's GAUSS_CUTOFF)
KERNELS = (("before", "per-substep", math.inf), ("per-substep", "per-substep", None),
           ("fused", "fused", None), ("compiled", "compiled", None))
# (label, overrides of SNNTrainConfig): the measured size, and train-snn's defaults
SPEED_CONFIGS = (("h256 rank 32 batch 256 horizon 40",
                  {"hidden": 256, "rank": 32, "batch": 256, "horizon": 40}),
                 ("train-snn defaults (spiking forward model)", {}))
QUICK_SPEED_CONFIG = ("quick: h16 batch 8 horizon 5",
                      {"hidden": 16, "rank": 4, "batch": 8, "horizon": 5, "model_batches": 2,
                       "policy_batches": 1, "eval_episodes": 2, "episodes": 2})


def snn_speed_part(configs=SPEED_CONFIGS, kernels=KERNELS, iterations: int = 2) -> list[dict]:
    from loihi_deploy.training.configs import SNNTrainConfig
    from loihi_deploy.training.snn.predictive import train_snn
    rows = []
    for label, overrides in configs:
        for row_label, kernel, cutoff in kernels:
            with tempfile.TemporaryDirectory() as out, surrogate_cutoff(cutoff):
                # both networks spiking, as the speed table has always measured (train-snn's
                # default forward model is a GRU since; the table times the spiking kernels)
                cfg = SNNTrainConfig(task="panda", model="snn", forward_model="snn",
                                     input_change=False,       # as the table was measured
                                     iterations=iterations, kernels=kernel, device="cpu",
                                     out=out, **overrides)
                run_dir = train_snn(cfg, ["bench", "--parts", "snn_speed"])
                result = json.loads((run_dir / "metrics.json").read_text())
            seconds = [h["seconds"] for h in result["history"]]
            per_iteration = [b - a for a, b in zip([0.0] + seconds[:-1], seconds)]
            rows.append({"config": label, "kernels": row_label, "threads": cfg.threads,
                         "hidden": cfg.hidden, "rank": cfg.rank, "batch": cfg.batch,
                         "horizon": cfg.horizon, "substeps": cfg.substeps,
                         "episodes": cfg.episodes, "model_batches": cfg.model_batches,
                         "policy_batches": cfg.policy_batches,
                         "eval_episodes": cfg.eval_episodes,
                         "first_s": per_iteration[0],
                         "steady_s": sum(per_iteration[1:]) / max(len(per_iteration) - 1, 1),
                         "prediction_mse": [h["prediction_mse"] for h in result["history"]],
                         "compiled": result["runtime"]["kernels_compiled"]})
    return rows


@contextlib.contextmanager
def surrogate_cutoff(cutoff: float | None):
    """Within: the surrogate's Gaussians cut off below exp(-cutoff) (math.inf: evaluated in
    full, as before the cut-off existed; None: unchanged)."""
    from loihi_deploy.training.snn import layers
    saved = layers.GAUSS_CUTOFF
    layers.GAUSS_CUTOFF = saved if cutoff is None else cutoff
    try:
        yield
    finally:
        layers.GAUSS_CUTOFF = saved


def format_snn_speed(rows: list[dict]) -> str:
    r = rows[0]
    lines = [f"Seconds per training iteration (`loihi-deploy train-snn --task panda --model snn "
             f"--forward-model snn`, {r['threads']} torch threads, CPU, torch {torch.__version__}): one "
             f"iteration = collect {r['episodes']} episodes, {r['model_batches']} forward-model "
             f"batches, {r['policy_batches']} policy batches, evaluate {r['eval_episodes']} "
             "episodes. Steady = mean of the iterations after the first; the first "
             "includes compiling. Rows: before = autograd through every substep with the "
             "surrogate's Gaussians in full (the code before); per-substep = the same with "
             "their cut-off (today's reference path); fused = one autograd node per layer and "
             "env step, op by op; compiled = the same compiled (the default). Speed-ups = "
             "that row's steady / this row's steady, measured in the same run.", "",
             "| configuration | neuron updates | first (s) | steady (s) | speed-up vs before | "
             "vs per-substep | prediction MSE per iteration |", "|---|---|---|---|---|---|---|"]
    reference = {(r["config"], r["kernels"]): r["steady_s"] for r in rows}
    for r in rows:
        ratios = [reference.get((r["config"], base), float("nan")) / r["steady_s"]
                  for base in ("before", "per-substep")]
        mse = ", ".join(f"{m:.3f}" for m in r["prediction_mse"])
        lines.append(f"| {r['config']} (h{r['hidden']}, rank {r['rank']}, batch {r['batch']}, "
                     f"horizon {r['horizon']}) | {r['kernels']} | {r['first_s']:.1f} | "
                     f"{r['steady_s']:.1f} | {ratios[0]:.1f}x | {ratios[1]:.1f}x | {mse} |")
    return "\n".join(lines) + "\n"
