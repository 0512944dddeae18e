"""Part pixels: the convolutional pixel policies and their energy estimates."""
from __future__ import annotations

import json
import pathlib

from loihi_deploy.compiler.files import atomic_write_text
from loihi_deploy.studies.bench.common import calibrated_graph, read_rows
from loihi_deploy.studies.bench.cost import decision_cost


def add_pixel_costs(path: pathlib.Path, specs, episodes: int, cache: dict) -> list[dict]:
    """Energy estimate per decision (decision_cost at the row's selected alpha, `episodes`
    closed-loop episodes) added to every row of a conversion-style JSON that lacks one.
    cache: label -> (ann, calibration), as run_part fills it."""
    settings, rows = read_rows(path)
    saved = {"settings": settings, "rows": rows}
    by_label = {spec.label: spec for spec in specs}
    for row in saved["rows"]:
        if "cost" in row or row["policy"] not in by_label:
            continue
        ann, graph, _ = calibrated_graph(by_label[row["policy"]], cache, row["neuron"], row["timesteps"])
        row["cost"] = decision_cost(ann, graph, row["env_id"], list(range(100, 100 + episodes)),
                                    row["selected_alpha"])
        atomic_write_text(path, json.dumps(saved, indent=1, default=float))
    return saved["rows"]


def format_pixels(rows: list[dict]) -> str:
    """Markdown: per pixel policy, its expert and ANN, then each config's vanilla and
    selected CRPI on the test episodes with the energy estimate per decision."""
    from loihi_deploy.studies.bench.conversion import SELECTION_NOTE, _test_cells
    from loihi_deploy.zoo import bundled_policies
    zoo = bundled_policies()
    lines = [SELECTION_NOTE, ""]
    for label in dict.fromkeys(r["policy"] for r in rows):
        mine = [r for r in rows if r["policy"] == label]
        ann, meta = mine[0]["ann"], zoo.get(label, {})
        expert = meta.get("expert_evaluation", {})
        lines += [f"### {label} ({mine[0]['env_id']})", "",
                  f"State-based expert {meta.get('expert', '?')}: {expert.get('mean', 0):.1f} "
                  f"± {expert.get('std', 0):.1f} (20 episodes, std); distilled ANN: "
                  f"{ann['mean']:.1f} ± {ann['ci95']:.1f} (95% CI, {mine[0]['episodes']} "
                  f"episodes per cell, alphas {mine[0]['alphas']})", "",
                  "| neuron | T | vanilla | ratio | selected CRPI (alpha) | ratio | paired diff "
                  "vs vanilla | events / decision | energy µJ / decision | ANN µJ |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in mine:
            c = r.get("cost", {})
            lines.append(f"| {r['neuron']} | {r['timesteps']} | " + _test_cells(r)
                         + f" {c.get('events_per_decision', float('nan')):.0f}"
                         f" | {c.get('energy_uj', float('nan')):.1f} | "
                         f"{c.get('ann_energy_uj', float('nan')):.1f} |")
        lines.append("")
    lines.append("Energy: estimate from event and synaptic-op counts with Loihi 1 Table 2 "
                 "figures (see cost.md); ANN: 12.5 pJ per FLOP. Convolution synapses counted "
                 "per connection; a zero pixel sends no event.")
    return "\n".join(lines) + "\n"
