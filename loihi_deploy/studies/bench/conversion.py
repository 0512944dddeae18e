"""Parts conversion and crpi_clip: tables and return-vs-alpha figures."""
from __future__ import annotations

import pathlib

import numpy as np


def format_conversion(rows: list[dict]) -> str:
    """Markdown: one table per policy, then the mean ratio over policies per config."""
    lines = []
    for label in dict.fromkeys(r["policy"] for r in rows):
        mine = [r for r in rows if r["policy"] == label]
        ann = mine[0]["ann"]
        lines += [f"### {label} (ANN {ann['mean']:.1f} ± {ann['ci95']:.1f}, "
                  f"{mine[0]['episodes']} episodes per cell)", "",
                  "| neuron | T | vanilla | ratio | best CRPI (alpha) | ratio | paired diff vs "
                  "vanilla |", "|---|---|---|---|---|---|---|"]
        for r in mine:
            v, b = r["vanilla"], r["best"]
            lines.append(f"| {r['neuron']} | {r['timesteps']} | {v['mean']:.1f} ± "
                         f"{v['ci95']:.1f} | {v['ratio']:.1%} | {b['mean']:.1f} ± {b['ci95']:.1f}"
                         f" ({b['alpha']:g}) | {b['ratio']:.1%} | {b['delta_vs_vanilla']:+.1f} ± "
                         f"{b['delta_ci95']:.1f} |")
        lines.append("")
    groups = {"the paper's actors": [r for r in rows if r["policy"].startswith("paper ")],
              "the bundled policies": [r for r in rows if not r["policy"].startswith("paper ")]}
    for group, members in groups.items():
        if not members:
            continue
        configs = list(dict.fromkeys((r["neuron"], r["timesteps"]) for r in members))
        n_policies = len({r["policy"] for r in members})
        lines += [f"### Mean ratio to the ANN over {group} ({n_policies})", "",
                  "| neuron | T | vanilla | best CRPI |", "|---|---|---|---|"]
        for neuron, T in configs:
            mine = [r for r in members if (r["neuron"], r["timesteps"]) == (neuron, T)]
            lines.append(f"| {neuron} | {T} | "
                         f"{np.mean([r['vanilla']['ratio'] for r in mine]):.1%} | "
                         f"{np.mean([r['best']['ratio'] for r in mine]):.1%} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def format_clip(rows: list[dict]) -> str:
    lines = ["| policy | neuron | T | clip (units) | vanilla | best CRPI (alpha) | ratio | "
             "paired diff vs vanilla |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        v, b = r["vanilla"], r["best"]
        clip = "default" if r["clip"] is None else f"{r['clip']:g}"
        lines.append(f"| {r['policy']} | {r['neuron']} | {r['timesteps']} | {clip} | "
                     f"{v['mean']:.1f} ± {v['ci95']:.1f} | {b['mean']:.1f} ± {b['ci95']:.1f} "
                     f"({b['alpha']:g}) | {b['ratio']:.1%} | {b['delta_vs_vanilla']:+.1f} ± "
                     f"{b['delta_ci95']:.1f} |")
    return "\n".join(lines) + "\n"


def plot_alpha_curves(rows: list[dict], path: pathlib.Path) -> None:
    """One panel per (policy, neuron kind): ratio to the ANN vs alpha, one line per T."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    kinds = list(dict.fromkeys(r["neuron"] for r in rows))
    fig, axes = plt.subplots(len(policies), len(kinds), squeeze=False, sharey="row",
                             figsize=(3.2 * len(kinds), 2.6 * len(policies)), dpi=110)
    for i, label in enumerate(policies):
        for j, kind in enumerate(kinds):
            ax = axes[i][j]
            for r in (r for r in rows if r["policy"] == label and r["neuron"] == kind):
                ann = r["ann"]["mean"]
                ax.errorbar(r["alphas"], np.array(r["snn_mean"]) / ann,
                            yerr=np.array(r["snn_ci95"]) / ann, marker=".", capsize=2,
                            label=f"T={r['timesteps']}")
            ax.axhline(1.0, color="k", lw=0.8)
            ax.set_title(f"{label}\n{kind}", fontsize=8)
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=6)
            if i == len(policies) - 1:
                ax.set_xlabel("CRPI alpha")
            if j == 0:
                ax.set_ylabel("return / ANN")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
