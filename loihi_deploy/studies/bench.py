"""`loihi-deploy bench`: the benchmark and analysis suite, written to docs/results/.

Parts (each writes <part>.json, <part>.md and PNG figures into OUT; README.md indexes them):
  conversion     policy x neuron model x T x {vanilla, CRPI at its best alpha on a grid}: the
                 ANN return, the SNN return with its 95% CI, the ratio to the ANN, the paired
                 difference to vanilla, the mean ratio over envs; return-vs-alpha figures.
  crpi_clip      CRPI's clip radius per neuron model: the default against a wider alternative.
  amplification  error amplification (loihi_deploy.studies.analysis): swap experiment, action-error
                 cosines, residual cosines, state / return divergence figures.
  cost           events and synaptic operations per decision from rollouts, energy estimates
                 (Loihi 1 Table 2 figures), the ANN's FLOPs, Lava latency per decision.
  fidelity       float vs Loihi fixed-point returns per neuron model.
  simulator      emulator vs Lava vs a per-sample torch loop (loihi_deploy.studies.perf), and scaling.
  pixels         the bundled pixel policies (distilled convolutional actors, 84x84 frames):
                 IF T=32/64, SNM T=8/16, MT and DC T=2, vanilla and CRPI (alphas 0.5, 1),
                 against the ANN and the state-based expert, with the energy estimate per
                 decision (events and synaptic ops counted over 2 closed-loop episodes).
Every row of a part runs all its alphas x episodes as one emulator batch on the same reset
seeds (paired comparisons); calibration is shared by all rows of a policy. The JSON is
rewritten after every row and `--resume` skips rows already in it, so a long run can be
interrupted. Policies: the paper's TD3 actors when ../shared/reference_actors is present (all
parts, every config) and the bundled policies (conversion study, IF T=16 and MT T=2); --quick
runs the bundled InvertedDoublePendulum policy only.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import time

import numpy as np

from loihi_deploy.compiler.convert import convert
from loihi_deploy.compiler.files import atomic_write_text
from loihi_deploy.compiler.ir import MembranePolicy, NeuronModel
from loihi_deploy.api import calibrate_policy, evaluate_ann, load_ann, sweep
from loihi_deploy.stats import mean_ci95

PAPER_ACTORS = pathlib.Path(__file__).resolve().parents[3] / "shared" / "reference_actors"
PAPER_ENVS = ("Ant-v4", "HalfCheetah-v4", "Hopper-v4", "Walker2d-v4")
FULL_CONFIGS = ([("if", T) for T in (8, 16, 32, 64)] + [("snm", T) for T in (4, 8, 16)]
                + [("mt:4", T) for T in (1, 2, 4)] + [("dc:4", T) for T in (1, 2, 4)])
QUICK_CONFIGS = [("if", 4), ("snm", 4), ("mt:4", 2), ("dc:4", 2)]
BUNDLED_CONFIGS = [("if", 16), ("mt:4", 2)]    # the project's own policies, full mode
# clip study: (neuron, T, wider alternative clip in units); defaults are NeuronModel's
CLIP_CONFIGS = [("snm", 4, 1.0), ("mt:4", 2, 6.0), ("dc:4", 2, 6.0)]
PIXEL_CONFIGS = [("if", 32), ("if", 64), ("snm", 8), ("snm", 16), ("mt:4", 2), ("dc:4", 2)]
PIXEL_ALPHAS = [0.0, 0.5, 1.0]     # a coarse grid: pixel rows cost ~100x a state row


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    label: str      # short name in tables
    policy: str     # bundled name or path
    env_id: str


def paper_policies() -> list[PolicySpec]:
    """The paper's TD3 actors (docs/conversion.md section 4) that are present."""
    return [PolicySpec(f"paper TD3 {env}", str(PAPER_ACTORS / f"TD3_{env}_actor.pt"), env)
            for env in PAPER_ENVS if (PAPER_ACTORS / f"TD3_{env}_actor.pt").exists()]


def bundled_policy_specs(names=None, pixels: bool = False) -> list[PolicySpec]:
    """Bundled state policies (pixels=False) or pixel policies (pixels=True)."""
    from loihi_deploy.zoo import bundled_policies
    from loihi_deploy.runtime.pixels import is_pixel_env
    zoo = bundled_policies()
    return [PolicySpec(name, name, meta["env_id"]) for name, meta in zoo.items()
            if (names is None or name in names) and is_pixel_env(meta["env_id"]) == pixels]


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
        atomic_write_text(self.path, json.dumps({"settings": self.settings, "rows": self.rows},
                                                indent=1))


def _sweep_row(spec, ann, cal, ann_returns, neuron, T, clip, alphas, episodes, seed, workers,
               ray_address):
    start = time.perf_counter()
    graph = convert(ann, cal, T, MembranePolicy("crpi", 0.0, clip), spec.env_id,
                    NeuronModel.parse(neuron))
    result = sweep(graph, ann, spec.env_id, alphas, episodes, seed, workers=workers,
                   ann_returns=ann_returns, ray_address=ray_address)
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
             out: pathlib.Path, workers: int | None, resume: bool, progress: bool = True,
             ray_address: str | None = None, cache: dict | None = None):
    """Run one part: configs of (neuron, T) (conversion) or of (neuron, T, alternative clip)
    (clip study: each config runs with the default clip and the alternative); configs may be
    a function of the policy. cache: policy label -> (ann, calibration), shared with _graph
    (filled here, so a later part of the same run need not calibrate again)."""
    from tqdm.auto import tqdm
    alphas = [float(a) for a in alphas]
    if alphas[0] != 0.0:
        raise ValueError("the alpha grid must start at 0 (vanilla)")
    settings = {"alphas": alphas, "episodes": episodes, "seed": seed,
                "calibration": "per-neuron max, 10 ANN episodes, reset seeds 0..9"}
    results = _Results(out / f"{part}.json", settings, resume)
    jobs = []
    for spec in specs:
        for config in (configs(spec) if callable(configs) else configs):
            neuron, T = config[0], config[1]
            clips = [None, *config[2:]]
            jobs += [(spec, neuron, T, clip) for clip in clips
                     if (spec.label, str(NeuronModel.parse(neuron)), T, clip) not in results.done]
    bar = tqdm(total=len(jobs), desc=f"bench {part}", unit="row", disable=not progress)
    cache = {} if cache is None else cache
    ann_returns: dict = {}
    for spec, neuron, T, clip in jobs:
        if spec.label not in cache:
            ann = load_ann(spec.policy, spec.env_id)
            cache[spec.label] = (ann, calibrate_policy(ann, spec.env_id, 10, 0, "max"))
        if spec.label not in ann_returns:
            ann_returns[spec.label] = evaluate_ann(cache[spec.label][0], spec.env_id, episodes,
                                                   seed)
        bar.set_postfix_str(f"{spec.env_id} {neuron} T={T}" + (f" clip {clip}" if clip else ""))
        results.add(_sweep_row(spec, *cache[spec.label], ann_returns[spec.label], neuron, T,
                               clip, alphas, episodes, seed, workers, ray_address))
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


ENERGY_PJ = {"sop": 23.6, "active_update": 81.0, "inactive_update": 52.0, "spike": 1.7}
ENERGY_SOURCE = ("Loihi 1, Davies et al. 2018 Table 2 (0.75 V): 23.6 pJ per synaptic op, 81 / "
                 "52 pJ per active / inactive neuron update, 1.7 pJ per within-tile spike")
ALT_SOP_PJ, ANN_FLOP_PJ = 0.077, 12.5   # the pixel-task report's figures (docs/conversion.md section 6)
ANALYSIS_CONFIGS = [("if", 16), ("snm", 8), ("mt:4", 2), ("dc:4", 2)]


def _graph(spec: PolicySpec, cache: dict, neuron: str, T: int):
    """(ann, graph (crpi, alpha per row), calibration) with calibration cached per policy."""
    if spec.label not in cache:
        ann = load_ann(spec.policy, spec.env_id)
        cache[spec.label] = (ann, calibrate_policy(ann, spec.env_id, 10, 0, "max"))
    ann, cal = cache[spec.label]
    graph = convert(ann, cal, T, MembranePolicy("crpi", 0.0), spec.env_id,
                    NeuronModel.parse(neuron))
    return ann, graph, cal


def amplification_part(specs, alphas_of, episodes: int, T: int = 16) -> list[dict]:
    """Per policy, IF at T: swap experiment, cosines, residual cosines, divergence curves, for
    vanilla and CRPI (alpha_of(spec): the conversion study's best alpha, else 0.5)."""
    from loihi_deploy.studies import analysis
    rows, cache = [], {}
    seeds = list(range(100, 100 + episodes))
    for spec in specs:
        ann, graph, _ = _graph(spec, cache, "if", T)
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
             "MuJoCo state):", "",
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
    lengths = run_episodes(emulator, env_id, seeds).lengths
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


def add_pixel_costs(path: pathlib.Path, specs, episodes: int, cache: dict) -> list[dict]:
    """Energy estimate per decision (decision_cost at the row's best alpha, `episodes`
    closed-loop episodes) added to every row of a conversion-style JSON that lacks one.
    cache: label -> (ann, calibration), as run_part fills it."""
    saved = json.loads(path.read_text())
    by_label = {spec.label: spec for spec in specs}
    for row in saved["rows"]:
        if "cost" in row or row["policy"] not in by_label:
            continue
        ann, graph, _ = _graph(by_label[row["policy"]], cache, row["neuron"], row["timesteps"])
        row["cost"] = decision_cost(ann, graph, row["env_id"], list(range(100, 100 + episodes)),
                                    row["best"]["alpha"])
        atomic_write_text(path, json.dumps(saved, indent=1, default=float))
    return saved["rows"]


def format_pixels(rows: list[dict]) -> str:
    """Markdown: per pixel policy, its expert and ANN, then each config's vanilla and best
    CRPI ratio with the energy estimate per decision."""
    from loihi_deploy.zoo import bundled_policies
    zoo = bundled_policies()
    lines = []
    for label in dict.fromkeys(r["policy"] for r in rows):
        mine = [r for r in rows if r["policy"] == label]
        ann, meta = mine[0]["ann"], zoo.get(label, {})
        expert = meta.get("expert_evaluation", {})
        lines += [f"### {label} ({mine[0]['env_id']})", "",
                  f"State-based expert {meta.get('expert', '?')}: {expert.get('mean', 0):.1f} "
                  f"± {expert.get('std', 0):.1f} (20 episodes, std); distilled ANN: "
                  f"{ann['mean']:.1f} ± {ann['ci95']:.1f} (95% CI, {mine[0]['episodes']} "
                  f"episodes per cell, alphas {mine[0]['alphas']})", "",
                  "| neuron | T | vanilla | ratio | best CRPI (alpha) | ratio | paired diff vs "
                  "vanilla | events / decision | energy µJ / decision | ANN µJ |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in mine:
            v, b, c = r["vanilla"], r["best"], r.get("cost", {})
            lines.append(f"| {r['neuron']} | {r['timesteps']} | {v['mean']:.1f} ± "
                         f"{v['ci95']:.1f} | {v['ratio']:.1%} | {b['mean']:.1f} ± {b['ci95']:.1f}"
                         f" ({b['alpha']:g}) | {b['ratio']:.1%} | {b['delta_vs_vanilla']:+.1f} ± "
                         f"{b['delta_ci95']:.1f} | {c.get('events_per_decision', float('nan')):.0f}"
                         f" | {c.get('energy_uj', float('nan')):.1f} | "
                         f"{c.get('ann_energy_uj', float('nan')):.1f} |")
        lines.append("")
    lines.append("Energy: estimate from event and synaptic-op counts with Loihi 1 Table 2 "
                 "figures (see cost.md); ANN: 12.5 pJ per FLOP. Convolution synapses counted "
                 "per connection; a zero pixel sends no event.")
    return "\n".join(lines) + "\n"


def cost_part(specs, episodes: int, configs, lava_decisions: int) -> list[dict]:
    from loihi_deploy.api import verify_on_lava
    from loihi_deploy.compiler.quantize import quantize
    rows, cache = [], {}
    seeds = list(range(100, 100 + episodes))
    for spec in specs:
        for neuron, T in configs:
            ann, graph, cal = _graph(spec, cache, neuron, T)
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


def fidelity_part(specs, episodes: int, configs) -> list[dict]:
    """Float vs fixed-point returns, vanilla and CRPI 0.5, same seeds."""
    from loihi_deploy.compiler.quantize import quantize
    from loihi_deploy.runtime.closed_loop import run_episodes
    from loihi_deploy.sim_backend.emulator import Emulator
    rows, cache = [], {}
    seeds = np.array(list(range(100, 100 + episodes)))
    for spec in specs:
        for neuron, T in configs:
            ann, graph, cal = _graph(spec, cache, neuron, T)
            graph = quantize(graph, np.asarray(cal.info["obs_absmax"]))
            row = {"policy": spec.label, "env_id": spec.env_id, "neuron": str(graph.neuron),
                   "timesteps": T, "episodes": episodes,
                   "ann": mean_ci95(evaluate_ann(ann, spec.env_id, episodes))[0]}
            for profile in ("float", "fixed"):
                emulator = Emulator(graph, 2 * episodes, profile=profile,
                                    alpha=np.repeat([0.0, 0.5], episodes))
                returns = run_episodes(emulator, spec.env_id, np.tile(seeds, 2)).returns
                row[f"{profile}_vanilla"] = mean_ci95(returns[:episodes])
                row[f"{profile}_crpi"] = mean_ci95(returns[episodes:])
                row[f"{profile}_saturations"] = emulator.fixed_point_events()[0]
            rows.append(row)
    return rows


def format_fidelity(rows: list[dict]) -> str:
    lines = ["Returns (mean ± 95% CI, % of the ANN); CRPI alpha 0.5; same reset seeds.", "",
             "| policy | neuron | T | float vanilla | fixed vanilla | float CRPI | fixed CRPI |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r[k][0]:.0f} ± {r[k][1]:.0f} ({r[k][0] / r['ann']:.0%})" for k in
                 ("float_vanilla", "fixed_vanilla", "float_crpi", "fixed_crpi")]
        lines.append(f"| {r['policy']} | {r['neuron']} | {r['timesteps']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def simulator_part(spec: PolicySpec, quick: bool) -> dict:
    from loihi_deploy.compiler.quantize import quantize
    from loihi_deploy.studies import perf
    ann, graph, cal = _graph(spec, {}, "if", 8 if quick else 32)
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
              "the torch loop runs batch 1):", "",
              "| varied | batch | T | width | emulator us | torch loop us | speed-up |",
              "|---|---|---|---|---|---|---|"]
    for r in result["scaling"]:
        torch_us = f"{r['torch_loop_us']:.0f}" if "torch_loop_us" in r else ""
        speedup = f"{r['speedup']:.1f}x" if "speedup" in r else ""
        lines.append(f"| {r['vary']} | {r['batch']} | {r['timesteps']} | {r['width']} | "
                     f"{r['emulator_us']:.1f} | {torch_us} | {speedup} |")
    return "\n".join(lines) + "\n"


PARTS = ("conversion", "crpi_clip", "amplification", "cost", "fidelity", "simulator", "pixels")


def _best_alphas(out: pathlib.Path, prefix: str):
    """policy label -> best IF T=16 alpha of the conversion study (0.5 if not there)."""
    path = out / f"{prefix}conversion.json"
    best = {}
    if path.exists():
        for r in json.loads(path.read_text())["rows"]:
            if r["neuron"] == "if" and r["timesteps"] == 16 and r["best"]["alpha"] > 0:
                best[r["policy"]] = r["best"]["alpha"]
    return lambda spec: best.get(spec.label, 0.5)


def _write(out: pathlib.Path, name: str, payload, markdown: str) -> None:
    atomic_write_text(out / f"{name}.json", json.dumps(payload, indent=1, default=float))
    atomic_write_text(out / f"{name}.md", markdown)


def write_index(out: pathlib.Path, prefix: str, command: str,
                runs: list[str] | None = None) -> pathlib.Path:
    """OUT/<prefix>README.md: every part's markdown that exists, with its figures. runs: the
    invocations that actually produced the files, when the parts ran separately."""
    titles = {"conversion": "Conversion study", "crpi_clip": "CRPI clip radius",
              "amplification": "Error amplification", "cost": "Cost per decision",
              "fidelity": "Float vs Loihi fixed point", "simulator": "Simulator performance",
              "pixels": "Pixel policies (convolutional)"}
    figures = {"conversion": ["conversion_alpha.png"], "amplification": ["amplification.png"],
               "pixels": ["pixels_alpha.png"]}
    lines = ["# Results", "", f"Generated by `{command}` (loihi_deploy/studies/bench.py); each section's "
             "numbers are in the JSON file of the same name.", "",
             "Closed-loop returns were measured on one machine; float rollouts are chaotic and "
             "their last bits depend on the CPU's BLAS kernels, so another machine gives other "
             "means within the printed intervals (docs/reproducibility.md). Fixed-point rows "
             "depend on it too, through the calibration rollouts. Timings are this machine's.",
             ""]
    if runs:
        lines += ["This copy was produced part by part, with the same code and settings:", ""]
        lines += [f"    {run}" for run in runs] + [""]
    for part in PARTS:
        md = out / f"{prefix}{part}.md"
        if not md.exists():
            continue
        lines += [f"## {titles[part]}", "", md.read_text().strip(), ""]
        lines += [f"![{part}]({prefix}{fig})" for fig in figures.get(part, [])
                  if (out / f"{prefix}{fig}").exists()]
        lines.append("")
    path = out / f"{prefix}README.md"
    path.write_text("\n".join(lines))
    return path


def run_bench(out: str | pathlib.Path = "docs/results", quick: bool = False,
              parts=PARTS, episodes: int | None = None, workers: int | None = None,
              resume: bool = False, command: str = "loihi-deploy bench",
              ray_address: str | None = None,
              pixel_policies: list[str] | None = None) -> pathlib.Path:
    """Run the parts and write OUT/<part>.{json,md,png} and the README.md index. The sweeps
    of conversion and crpi_clip run on a Ray cluster when ray_address is given."""
    out = pathlib.Path(out)
    prefix = "quick_" if quick else ""
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown bench part(s) {unknown}; parts are {', '.join(PARTS)}")
    if quick:
        specs = paper = bundled_policy_specs(["inverted_double_pendulum_v5_td3"])
        configs, clip_configs, alphas = QUICK_CONFIGS, CLIP_CONFIGS[1:2], [0.0, 0.5, 1.0]
        analysis_configs, episodes = QUICK_CONFIGS, episodes or 5
    else:
        paper = paper_policies()
        specs = paper + bundled_policy_specs()
        configs = lambda spec: FULL_CONFIGS if spec in paper else BUNDLED_CONFIGS  # noqa: E731
        clip_configs = CLIP_CONFIGS
        alphas, analysis_configs = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], ANALYSIS_CONFIGS
        episodes = episodes or 30
    if not specs:
        raise ValueError("no policies to benchmark: ../shared/reference_actors is absent and "
                         "no bundled policy was found")
    few = max(2, episodes // 3)   # analysis parts: fewer episodes, more work per episode
    for part in parts:
        start = time.perf_counter()
        name = prefix + part
        if part == "conversion":
            rows = run_part(name, specs, configs, alphas, episodes, 100, out, workers, resume,
                            ray_address=ray_address)
            (out / f"{name}.md").write_text(format_conversion(rows))
            plot_alpha_curves(rows, out / f"{name}_alpha.png")
        elif part == "crpi_clip":
            clip_specs = [s for s in (paper or specs)
                          if "HalfCheetah" in s.env_id or "Hopper" in s.env_id]
            rows = run_part(name, clip_specs or specs[:1], clip_configs, alphas, episodes, 100,
                            out, workers, resume, ray_address=ray_address)
            (out / f"{name}.md").write_text(format_clip(rows))
        elif part == "amplification":
            rows = amplification_part(paper or specs, _best_alphas(out, prefix), few)
            _write(out, name, rows, format_amplification(rows))
            plot_divergence(rows, out / f"{name}.png")
        elif part == "cost":
            rows = cost_part(paper or specs, few, analysis_configs, 20 if quick else 100)
            _write(out, name, rows, format_cost(rows))
        elif part == "fidelity":
            rows = fidelity_part(paper or specs, few if quick else 20, analysis_configs)
            _write(out, name, rows, format_fidelity(rows))
        elif part == "pixels":
            pixel_specs = bundled_policy_specs(pixel_policies, pixels=True)
            if not pixel_specs:
                raise ValueError("bench pixels: no bundled pixel policies (make them with "
                                 "`loihi-deploy distill`)")
            if quick:   # the cheapest: InvertedPendulum
                pixel_specs = [s for s in pixel_specs if "Pendulum" in s.env_id][:1] or \
                    pixel_specs[:1]
            pixel_configs = [("mt:4", 2)] if quick else PIXEL_CONFIGS
            n = 2 if quick else min(episodes, 10)
            from threadpoolctl import threadpool_limits
            with threadpool_limits(1):   # calibration and costs run here, in this process
                calibrated: dict = {}
                rows = run_part(name, pixel_specs, pixel_configs, PIXEL_ALPHAS, n, 100, out,
                                workers, resume, ray_address=ray_address, cache=calibrated)
                rows = add_pixel_costs(out / f"{name}.json", pixel_specs, 2, calibrated)
            (out / f"{name}.md").write_text(format_pixels(rows))
            plot_alpha_curves(rows, out / f"{name}_alpha.png")
        elif part == "simulator":
            cheetah = [s for s in (paper or specs) if "HalfCheetah" in s.env_id]
            result = simulator_part((cheetah or paper or specs)[0], quick)
            _write(out, name, result, format_simulator(result))
        print(f"wrote {out / name}.{{json,md}} ({time.perf_counter() - start:.0f} s)",
              flush=True)
    index = write_index(out, prefix, command + (" --quick" if quick else ""))
    print(f"wrote {index}")
    return out
