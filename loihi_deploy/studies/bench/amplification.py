"""Part amplification: swap experiment, action-error and residual cosines."""
from __future__ import annotations

import pathlib

import numpy as np

from loihi_deploy.studies.bench.common import CALIBRATION, calibrated_graph, read_rows


def amplification_part(specs, alphas_of, episodes: int, T: int = 16) -> list[dict]:
    """Per policy, IF at T: swap experiment, cosines, residual cosines, divergence curves, for
    vanilla and CRPI (alpha_of(spec): the conversion study's selected alpha, else 0.5)."""
    from loihi_deploy.studies import analysis
    rows, cache = [], {}
    seeds = list(range(100, 100 + episodes))
    for spec in specs:
        ann, graph, _ = calibrated_graph(spec, cache, "if", T)
        for alpha in (0.0, alphas_of(spec)):
            swap = analysis.swap_experiment(ann, graph, spec.env_id, seeds, alpha)
            errors = analysis.action_errors(ann, graph, spec.env_id, seeds, alpha)
            distance, gap = analysis.divergence(
                analysis.paired_rollouts(ann, graph, spec.env_id, seeds, alpha))
            rows.append({"policy": spec.label, "env_id": spec.env_id, "timesteps": T,
                         "alpha": alpha, "episodes": episodes, "swap": swap, **errors,
                         "state_distance": np.round(distance, 4).tolist(),
                         "return_gap": np.round(gap, 3).tolist()})
    return rows


def format_amplification(rows: list[dict]) -> str:
    lines = ["Swap experiment (returns as % of the ANN's; a probe's return is the sum of its "
             "one-step rewards at the driver's states, scored by saving and restoring the "
             f"MuJoCo state; calibration: {CALIBRATION}):", "",
             "| policy | alpha | ANN | SNN | SNN actions on ANN states | ANN actions on SNN "
             "states |", "|---|---|---|---|---|---|"]
    for r in rows:
        w, ann = r["swap"], r["swap"]["ann"]
        lines.append(f"| {r['policy']} | {r['alpha']:g} | {ann:.0f} | {w['snn'] / ann:.1%} | "
                     f"{w['snn_on_ann_states'] / ann:.1%} | {w['ann_on_snn_states'] / ann:.1%} |")
    lines += ["", "Action-error cosines along the SNN's trajectory (docs/conversion.md section 5) and the "
              "residual cosine cos(e_k+1, e_k) per hidden layer:", "",
              "| policy | alpha | ANN Correction | SNN Consistency | SNN Drift | residual cos "
              "(layers) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['policy']} | {r['alpha']:g} | {r['ann_correction']:+.3f} | "
                     f"{r['snn_consistency']:+.3f} | {r['snn_drift']:+.3f} | "
                     + " / ".join(f"{c:+.3f}" for c in r["residual_cos"]) + " |")
    return "\n".join(lines) + "\n"


def plot_divergence(rows: list[dict], path: pathlib.Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    fig, axes = plt.subplots(2, len(policies), squeeze=False,
                             figsize=(3.4 * len(policies), 5.2), dpi=110)
    for j, label in enumerate(policies):
        for r in (r for r in rows if r["policy"] == label):
            name = "vanilla" if r["alpha"] == 0 else f"CRPI a={r['alpha']:g}"
            axes[0][j].plot(r["state_distance"], lw=0.8, label=name)
            axes[1][j].plot(r["return_gap"], lw=0.8, label=name)
        axes[0][j].set_title(label, fontsize=8)
        axes[0][j].set_ylabel("||s_SNN - s_ANN||")
        axes[1][j].set_ylabel("cumulative return gap ANN - SNN")
        axes[1][j].set_xlabel("decision")
        for ax in axes[:, j]:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def best_alphas(out: pathlib.Path, prefix: str):
    """policy label -> the IF T=16 alpha the conversion study selected (0.5 if not there)."""
    path = out / f"{prefix}conversion.json"
    best = {}
    if path.exists():
        for r in read_rows(path, "delete it or run the conversion part again")[1]:
            if r["neuron"] == "if" and r["timesteps"] == 16 and r["selected_alpha"] > 0:
                best[r["policy"]] = r["selected_alpha"]
    return lambda spec: best.get(spec.label, 0.5)
