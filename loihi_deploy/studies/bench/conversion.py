"""Parts conversion and crpi_clip: tables and return-vs-alpha figures."""
from __future__ import annotations

import pathlib

import numpy as np

from loihi_deploy.studies.bench.common import CALIBRATION


SELECTION_NOTE = ("alpha is selected (highest mean) on the selection episodes (reset seeds "
                  "100..) and every number here is from as many fresh test episodes (reset "
                  "seeds 10100..); mean ± 95% CI; **better** where the paired 95% CI of "
                  "selected - vanilla lies above 0. Calibration: " + CALIBRATION + ".")


def _test_cells(r: dict) -> str:
    t = r["test"]
    v, c = t["vanilla"], t["selected"]
    diff = f"{t['delta_vs_vanilla']:+.1f} ± {t['delta_ci95']:.1f}"
    return (f"{v['mean']:.1f} ± {v['ci95']:.1f} | {v['ratio']:.1%} | {c['mean']:.1f} ± "
            f"{c['ci95']:.1f} ({r['selected_alpha']:g}) | {c['ratio']:.1%} | "
            + (f"**{diff} better**" if t["better"] else diff) + " |")


def format_conversion(rows: list[dict]) -> str:
    """Markdown: one table per policy, then the ratio to the ANN aggregated over policies per
    config (mean and interquartile mean, each with a bootstrap 95% CI over the policies)."""
    from loihi_deploy.stats import bootstrap_ci, interquartile_mean
    lines = [SELECTION_NOTE, ""]
    for label in dict.fromkeys(r["policy"] for r in rows):
        mine = [r for r in rows if r["policy"] == label]
        lines += [f"### {label} (ANN {mine[0]['test']['ann']:.1f} on the test episodes, "
                  f"{mine[0]['episodes']} episodes per cell)", "",
                  "| neuron | T | vanilla | ratio | selected CRPI (alpha) | ratio | paired diff "
                  "vs vanilla |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['neuron']} | {r['timesteps']} | " + _test_cells(r) for r in mine]
        lines.append("")
    groups = {"the paper's actors": [r for r in rows if r["policy"].startswith("paper ")],
              "the bundled policies": [r for r in rows if not r["policy"].startswith("paper ")]}
    for group, members in groups.items():
        if not members:
            continue
        configs = list(dict.fromkeys((r["neuron"], r["timesteps"]) for r in members))
        n_policies = len({r["policy"] for r in members})
        lines += [f"### Ratio to the ANN over {group} ({n_policies}; test episodes; [bootstrap "
                  f"95% CI over the policies])", "",
                  "| neuron | T | vanilla mean | selected CRPI mean | vanilla IQM | selected "
                  "CRPI IQM |", "|---|---|---|---|---|---|"]
        for neuron, T in configs:
            mine = [r for r in members if (r["neuron"], r["timesteps"]) == (neuron, T)]
            cells = []
            for statistic in (np.mean, interquartile_mean):
                for key in ("vanilla", "selected"):
                    value, low, high = bootstrap_ci([r["test"][key]["ratio"] for r in mine],
                                                    statistic)
                    cells.append(f"{value:.1%} [{low:.1%}, {high:.1%}]")
            lines.append(f"| {neuron} | {T} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def format_clip(rows: list[dict]) -> str:
    lines = [SELECTION_NOTE, "",
             "| policy | neuron | T | clip (units) | vanilla | ratio | selected CRPI (alpha) | "
             "ratio | paired diff vs vanilla |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        clip = "default" if r["clip"] is None else f"{r['clip']:g}"
        lines.append(f"| {r['policy']} | {r['neuron']} | {r['timesteps']} | {clip} | "
                     + _test_cells(r))
    return "\n".join(lines) + "\n"


def plot_alpha_curves(rows: list[dict], path: pathlib.Path) -> None:
    """One panel per (policy, neuron kind) that has rows: return / ANN (mean ± 95% CI) vs
    alpha, one line per T, on one fixed y scale for every panel (0 to the largest upper
    bound, at least 1.1) so that a change of a tenth of a percent looks like one."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from loihi_deploy.api import save_figure
    panels = list(dict.fromkeys((r["policy"], r["neuron"]) for r in rows))
    columns = min(4, len(panels))
    n_rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(n_rows, columns, squeeze=False, figsize=(3.2 * columns,
                                                                      2.6 * n_rows), dpi=110)
    top = max([1.1] + [float(np.max((np.array(r["snn_mean"]) + np.nan_to_num(
        np.array(r["snn_ci95"], dtype=float))) / r["ann"]["mean"])) for r in rows])
    for ax, (label, kind) in zip(axes.flat, panels):
        for r in (r for r in rows if r["policy"] == label and r["neuron"] == kind):
            ann = r["ann"]["mean"]
            ax.errorbar(r["alphas"], np.array(r["snn_mean"]) / ann,
                        yerr=np.array(r["snn_ci95"], dtype=float) / ann, marker=".", capsize=2,
                        label=f"T={r['timesteps']}")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_ylim(0, top)
        ax.set_title(f"{label}\n{kind.upper()}", fontsize=8)
        ax.set_xlabel("CRPI alpha (0 = vanilla)", fontsize=7)
        ax.set_ylabel("return / ANN (± 95% CI)", fontsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(panels):]:
        ax.remove()                      # no empty panels
    fig.tight_layout()
    save_figure(fig, path)
