"""`loihi-deploy bench`: the conversion study, written to a results folder (docs/results/).

Parts (each writes <part>.json, <part>.md and PNG figures into OUT):
  conversion  policy x neuron model x T x {vanilla, CRPI at its best alpha on a grid}: the ANN
              return, the SNN return with its 95% CI, the ratio to the ANN, the paired
              difference to vanilla, and the mean ratio over envs; return-vs-alpha figures.
  crpi_clip   CRPI's clip radius per neuron model: the default against a wider alternative.
Every row of a part runs all its alphas x episodes as one emulator batch on the same reset
seeds (paired comparisons); calibration is shared by all rows of a policy. The JSON is
rewritten after every row and `--resume` skips rows already in it, so a long run can be
interrupted. Policies: the paper's TD3 actors when ../shared/reference_actors is present,
else (and in --quick) the bundled policies.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import time

import numpy as np

from compiler.calibrate import calibrate
from compiler.convert import convert
from compiler.ir import MembranePolicy, NeuronModel
from loihi_deploy.api import evaluate_ann, load_ann, mean_ci95, sweep

PAPER_ACTORS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "reference_actors"
PAPER_ENVS = ("Ant-v4", "HalfCheetah-v4", "Hopper-v4", "Walker2d-v4")
FULL_CONFIGS = ([("if", T) for T in (8, 16, 32, 64)] + [("snm", T) for T in (4, 8, 16)]
                + [("mt:4", T) for T in (1, 2, 4)] + [("dc:4", T) for T in (1, 2, 4)])
QUICK_CONFIGS = [("if", 4), ("snm", 4), ("mt:4", 2), ("dc:4", 2)]
# clip study: (neuron, T, wider alternative clip in units); defaults are NeuronModel's
CLIP_CONFIGS = [("snm", 4, 1.0), ("mt:4", 2, 6.0), ("dc:4", 2, 6.0)]


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    label: str      # short name in tables
    policy: str     # bundled name or path
    env_id: str


def paper_policies() -> list[PolicySpec]:
    """The paper's TD3 actors (REFERENCE 1.4) that are present."""
    return [PolicySpec(f"paper TD3 {env}", str(PAPER_ACTORS / f"TD3_{env}_actor.pt"), env)
            for env in PAPER_ENVS if (PAPER_ACTORS / f"TD3_{env}_actor.pt").exists()]


def bundled_policy_specs(names=None) -> list[PolicySpec]:
    from loihi_deploy.zoo import bundled_policies
    zoo = bundled_policies()
    return [PolicySpec(name, name, meta["env_id"]) for name, meta in zoo.items()
            if names is None or name in names]


def _row_key(row: dict) -> tuple:
    return row["policy"], row["neuron"], row["timesteps"], row.get("clip")


class _Results:
    """Rows of one part, saved atomically after every row (resumable)."""

    def __init__(self, path: pathlib.Path, settings: dict, resume: bool):
        self.path = path
        self.rows: list[dict] = []
        if resume and path.exists():
            saved = json.loads(path.read_text())
            if saved.get("settings") == settings:
                self.rows = saved["rows"]
        self.settings = settings
        self.done = {_row_key(r) for r in self.rows}

    def add(self, row: dict) -> None:
        self.rows.append(row)
        self.done.add(_row_key(row))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"settings": self.settings, "rows": self.rows}, indent=1))
        tmp.replace(self.path)


def _sweep_row(spec, ann, cal, ann_returns, neuron, T, clip, alphas, episodes, seed, workers):
    start = time.perf_counter()
    graph = convert(ann, cal, T, MembranePolicy("crpi", 0.0, clip), spec.env_id,
                    NeuronModel.parse(neuron))
    result = sweep(graph, ann, spec.env_id, alphas, episodes, seed, workers=workers,
                   ann_returns=ann_returns)
    ann_mean, ann_ci = mean_ci95(ann_returns)
    stats = [mean_ci95(r) for r in result.snn_returns]
    best = result.best_alpha_index
    delta = result.delta_vs_vanilla(best)
    return {"policy": spec.label, "env_id": spec.env_id, "neuron": str(graph.neuron),
            "timesteps": T, "clip": clip, "episodes": episodes, "alphas": result.alphas,
            "ann": {"mean": ann_mean, "ci95": ann_ci},
            "snn_mean": [m for m, _ in stats], "snn_ci95": [c for _, c in stats],
            "vanilla": {"mean": stats[0][0], "ci95": stats[0][1],
                        "ratio": stats[0][0] / ann_mean},
            "best": {"alpha": result.alphas[best], "mean": stats[best][0],
                     "ci95": stats[best][1], "ratio": stats[best][0] / ann_mean,
                     "delta_vs_vanilla": delta[0], "delta_ci95": delta[1]},
            "seconds": round(time.perf_counter() - start, 1)}


def run_part(part: str, specs: list[PolicySpec], configs, alphas, episodes: int, seed: int,
             out: pathlib.Path, workers: int | None, resume: bool, progress: bool = True):
    """Run one part: configs of (neuron, T) (conversion) or of (neuron, T, alternative clip)
    (clip study: each config runs with the default clip and the alternative)."""
    from tqdm.auto import tqdm
    alphas = [float(a) for a in alphas]
    if alphas[0] != 0.0:
        raise ValueError("the alpha grid must start at 0 (vanilla)")
    settings = {"alphas": alphas, "episodes": episodes, "seed": seed,
                "calibration": "per-neuron max, 10 ANN episodes, reset seeds 0..9"}
    results = _Results(out / f"{part}.json", settings, resume)
    jobs = []
    for spec in specs:
        for config in configs:
            neuron, T = config[0], config[1]
            clips = [None, *config[2:]]
            jobs += [(spec, neuron, T, clip) for clip in clips
                     if (spec.label, str(NeuronModel.parse(neuron)), T, clip) not in results.done]
    bar = tqdm(total=len(jobs), desc=f"bench {part}", unit="row", disable=not progress)
    cache: dict = {}
    for spec, neuron, T, clip in jobs:
        if spec.label not in cache:
            ann = load_ann(spec.policy, spec.env_id)
            cache.clear()
            cache[spec.label] = (ann, calibrate(ann, spec.env_id, 10, 0, "max"),
                                 evaluate_ann(ann, spec.env_id, episodes, seed))
        bar.set_postfix_str(f"{spec.env_id} {neuron} T={T}" + (f" clip {clip}" if clip else ""))
        results.add(_sweep_row(spec, *cache[spec.label], neuron, T, clip, alphas, episodes,
                               seed, workers))
        bar.update(1)
    bar.close()
    return results.rows


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
    configs = list(dict.fromkeys((r["neuron"], r["timesteps"]) for r in rows))
    n_policies = len({r["policy"] for r in rows})
    lines += [f"### Mean ratio to the ANN over the {n_policies} policies", "",
              "| neuron | T | vanilla | best CRPI |", "|---|---|---|---|"]
    for neuron, T in configs:
        mine = [r for r in rows if (r["neuron"], r["timesteps"]) == (neuron, T)]
        lines.append(f"| {neuron} | {T} | {np.mean([r['vanilla']['ratio'] for r in mine]):.1%}"
                     f" | {np.mean([r['best']['ratio'] for r in mine]):.1%} |")
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
            ax.legend(fontsize=6)
            if i == len(policies) - 1:
                ax.set_xlabel("CRPI alpha")
            if j == 0:
                ax.set_ylabel("return / ANN")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def run_bench(out: str | pathlib.Path = "docs/results", quick: bool = False,
              parts=("conversion", "crpi_clip"), episodes: int | None = None,
              workers: int | None = None, resume: bool = False) -> pathlib.Path:
    """Run the parts and write OUT/<part>.{json,md,png}; returns OUT."""
    out = pathlib.Path(out)
    prefix = "quick_" if quick else ""
    if quick:
        specs = bundled_policy_specs(["inverted_double_pendulum_v5_td3"])
        configs, clip_configs, alphas = QUICK_CONFIGS, CLIP_CONFIGS[1:2], [0.0, 0.5, 1.0]
        episodes = episodes or 5
    else:
        specs = paper_policies() or bundled_policy_specs()
        configs, clip_configs = FULL_CONFIGS, CLIP_CONFIGS
        alphas = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        episodes = episodes or 30
    for part in parts:
        if part == "conversion":
            rows = run_part(prefix + part, specs, configs, alphas, episodes, 100, out, workers,
                            resume)
            (out / f"{prefix}{part}.md").write_text(format_conversion(rows))
            plot_alpha_curves(rows, out / f"{prefix}{part}_alpha.png")
        elif part == "crpi_clip":
            clip_specs = [s for s in specs if "HalfCheetah" in s.env_id or "Hopper" in s.env_id]
            rows = run_part(prefix + part, clip_specs or specs[:1], clip_configs, alphas,
                            episodes, 100, out, workers, resume)
            (out / f"{prefix}{part}.md").write_text(format_clip(rows))
        else:
            raise ValueError(f"unknown bench part {part!r} (conversion, crpi_clip)")
        print(f"wrote {out / (prefix + part)}.{{json,md}}")
    return out
