"""Benchmark: returns of the float vs the Loihi fixed-point profile on the paper's actors.

For each of TD3/SAC x Ant/HalfCheetah/Hopper/Walker2d (v4, as trained): calibrate (10 ANN
episodes, per-neuron max), convert (IF, T=16), quantise, then run the ANN and, in each
profile, vanilla and CRPI(alpha) on the same episode seeds (100, 101, ...). Prints a table
and writes docs/results/fixed_vs_float.{md,json}.

    python benchmarks/fixed_vs_float.py --episodes 30
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compiler.frontend import load_policy  # noqa: E402
from compiler.ir import MembranePolicy  # noqa: E402
from loihi_deploy.api import compile_policy, evaluate_ann, mean_ci95  # noqa: E402
from runtime.closed_loop import episode_seeds, run_episodes  # noqa: E402
from sim_backend.emulator import Emulator  # noqa: E402

ENVS = ("Ant-v4", "HalfCheetah-v4", "Hopper-v4", "Walker2d-v4")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument("-T", "--timesteps", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=0.5, help="CRPI alpha (default 0.5)")
    ap.add_argument("--algos", default="TD3,SAC")
    ap.add_argument("--envs", default=",".join(ENVS))
    ap.add_argument("--out", default=str(ROOT / "docs/results/fixed_vs_float"))
    args = ap.parse_args()
    actors = ROOT.parent / "shared/reference_actors"
    if not actors.exists():
        sys.exit(f"{actors}: the paper's actors are not present")
    seeds = episode_seeds(100, args.episodes)
    rows = []
    for algo in args.algos.split(","):
        for env in args.envs.split(","):
            t0 = time.perf_counter()
            ann = load_policy(actors / f"{algo}_{env}_actor.pt", env)
            graph = compile_policy(ann, env, args.timesteps, MembranePolicy("crpi", 0.0),
                                   profile="fixed")
            row = {"algo": algo, "env": env, "ann": evaluate_ann(ann, env, args.episodes).tolist()}
            for profile in ("float", "fixed"):
                emu = Emulator(graph, 2 * args.episodes, profile=profile,
                               alpha=np.repeat([0.0, args.alpha], args.episodes))
                returns = run_episodes(emu, env, np.tile(seeds, 2)).returns
                row[f"{profile}_vanilla"] = returns[:args.episodes].tolist()
                row[f"{profile}_crpi"] = returns[args.episodes:].tolist()
                row[f"{profile}_saturations"], row[f"{profile}_input_clips"] = \
                    emu.fixed_point_events()
            row["seconds"] = time.perf_counter() - t0
            rows.append(row)
            print(format_row(row), flush=True)
    header = (f"IF, T={args.timesteps}, CRPI alpha {args.alpha}, {args.episodes} episodes per "
              f"cell (reset seeds 100..{99 + args.episodes}), mean +- 95% CI (% of ANN)")
    table = "\n".join([header, "", "| algo | env | ANN | float vanilla | float CRPI | "
                       "fixed vanilla | fixed CRPI | fixed saturations |",
                       "|---|---|---|---|---|---|---|---|", *(markdown_row(r) for r in rows)])
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(f"# Float vs fixed-point profile\n\n`python "
                                      f"benchmarks/fixed_vs_float.py --episodes {args.episodes}`"
                                      f"\n\n{table}\n")
    out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    print("\n" + table)


def _cell(returns, ann_mean) -> str:
    mean, ci = mean_ci95(returns)
    return f"{mean:.0f} +- {ci:.0f} ({100 * mean / ann_mean:.0f}%)"


def format_row(r) -> str:
    ann = np.mean(r["ann"])
    return (f"{r['algo']} {r['env']}: ANN {ann:.0f}; float van/crpi "
            f"{_cell(r['float_vanilla'], ann)} / {_cell(r['float_crpi'], ann)}; fixed van/crpi "
            f"{_cell(r['fixed_vanilla'], ann)} / {_cell(r['fixed_crpi'], ann)} "
            f"[{r['seconds']:.0f} s]")


def markdown_row(r) -> str:
    ann_mean, ann_ci = mean_ci95(r["ann"])
    cells = [_cell(r[k], ann_mean) for k in ("float_vanilla", "float_crpi", "fixed_vanilla",
                                             "fixed_crpi")]
    return (f"| {r['algo']} | {r['env']} | {ann_mean:.0f} +- {ann_ci:.0f} | " + " | ".join(cells)
            + f" | {r['fixed_saturations']} |")


if __name__ == "__main__":
    main()
