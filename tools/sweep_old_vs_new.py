"""Time the paper's alpha sweep with this checkout's emulator and with an older commit's, in one
run, interleaved (docs/performance.md; issue 22's "old vs new in one run").

    .venv/bin/python tools/sweep_old_vs_new.py --old COMMIT [--episodes 10] [--no-loop]
        [--out docs/results/sweep_old_vs_new.md]

The older commit is checked out with `git worktree` into a temporary folder and every
measurement runs in its own process, the old tree's packages imported in place of this
checkout's (the editable install maps them here otherwise). Per method (float64 / float32 /
fixed point, 1 and 2 processes) the old and the new code run back to back, so a change in
the machine's load hits both. The official-style torch loop (unchanged code) runs once, last.
Besides seconds, each child replays 40 decisions of fixed random observations on 110 rows
(alphas 0..1) and the parent reports the largest action difference old vs new: 0 for fixed
point (exact integers), float rounding for float.
Needs ../shared/reference_actors (the paper's TD3 HalfCheetah-v4 actor).
"""
from __future__ import annotations

import argparse
import importlib.abc
import importlib.util
import json
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
ACTOR = ROOT.parent / "shared" / "reference_actors" / "TD3_HalfCheetah-v4_actor.pt"
ENV_ID = "HalfCheetah-v4"
METHODS = {  # name: (profile, processes, precision)
    "float64, 1 process": ("float", 1, "float64"),
    "float64, 2 processes": ("float", 2, "float64"),
    "float32, 1 process": ("float", 1, "float32"),
    "float32, 2 processes": ("float", 2, "float32"),
    "fixed point, 2 processes": ("fixed", 2, "float64"),
}


class _TreeFinder(importlib.abc.MetaPathFinder):
    """Import loihi_deploy and its mapped packages (pyproject's package-dir) from `tree`."""

    def __init__(self, tree: pathlib.Path):
        self.packages = {"loihi_deploy": tree / "loihi_deploy",
                         **{f"loihi_deploy.{name}": tree / name
                            for name in ("compiler", "runtime", "sim_backend")}}

    def find_spec(self, name, path=None, target=None):
        folder = self.packages.get(name)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)])


def child(tree: pathlib.Path, method: str, episodes: int) -> dict:
    """In this process: the sweep (or the loop) with `tree`'s code; seconds, returns, actions."""
    sys.meta_path.insert(0, _TreeFinder(tree))
    import numpy as np
    from loihi_deploy.compiler.quantize import quantize
    from loihi_deploy.studies import perf
    from loihi_deploy.studies.bench.common import PolicySpec, calibrated_graph
    spec = PolicySpec("paper TD3 HalfCheetah-v4", str(ACTOR), ENV_ID)
    _, graph, cal = calibrated_graph(spec, {}, "if", 32)
    graph = quantize(graph, np.asarray(cal.info["obs_absmax"]))
    alphas = list(np.linspace(0, 1, 11).round(3))
    seeds = perf.episode_seeds(100, episodes)
    from loihi_deploy.sim_backend import emulator
    result = {"code": emulator.__file__}     # measure() checks it lies in `tree`
    if method == "loop":
        start = time.perf_counter()
        returns = perf.official_style_sweep(graph, ENV_ID, alphas, seeds)
        return {**result, "seconds": time.perf_counter() - start,
                "mean_return": float(returns.mean())}
    profile, workers, precision = METHODS[method]
    start = time.perf_counter()
    returns = perf.emulator_sweep(graph, ENV_ID, alphas, seeds, profile, workers, precision)
    seconds = time.perf_counter() - start
    replay = emulator.Emulator(graph, 110, alpha=np.repeat(alphas, 10), profile=profile,
                               precision=precision)
    observations = np.random.default_rng(0).normal(0, 1, (40, 110, graph.obs_dim))
    actions = np.stack([replay.act(obs) for obs in observations])
    return {**result, "seconds": seconds, "mean_return": float(returns.mean()),
            "actions": actions.tolist()}


def measure(tree: pathlib.Path, method: str, episodes: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(tree), method,
                          "--episodes", str(episodes)], capture_output=True, text=True,
                         cwd=tree)
    if out.returncode != 0:
        sys.exit(f"{method} in {tree} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if not pathlib.Path(result["code"]).resolve().is_relative_to(tree.resolve()):
        sys.exit(f"{method}: ran {result['code']}, not {tree}'s code")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", help="the commit to compare with (e.g. HEAD~1); required")
    parser.add_argument("--episodes", type=int, default=10, help="episodes per alpha")
    parser.add_argument("--no-loop", action="store_true", help="skip the torch loop (~4 min)")
    parser.add_argument("--out", type=pathlib.Path, help="also write the table here")
    parser.add_argument("--child", nargs=2, metavar=("TREE", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(pathlib.Path(args.child[0]), args.child[1], args.episodes)))
        return
    if not args.old:
        parser.error("--old COMMIT is required")
    if not ACTOR.is_file():
        sys.exit(f"{ACTOR}: missing (the paper's actors are read from ../shared/reference_actors)")
    import numpy as np
    old_commit = subprocess.run(["git", "rev-parse", "--short", args.old], cwd=ROOT, text=True,
                                capture_output=True, check=True).stdout.strip()
    new_commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                                text=True, capture_output=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        old_tree = pathlib.Path(tmp) / "old"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(old_tree), old_commit],
                       cwd=ROOT, check=True)
        try:
            rows = []
            for method in METHODS:
                old, new = measure(old_tree, method, args.episodes), \
                    measure(ROOT, method, args.episodes)
                diff = float(np.abs(np.array(old["actions"]) - np.array(new["actions"])).max())
                rows.append((method, old, new, diff))
                print(f"{method}: old {old['seconds']:.1f} s, new {new['seconds']:.1f} s",
                      file=sys.stderr)
            loop = None if args.no_loop else measure(ROOT, "loop", args.episodes)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old_tree)], cwd=ROOT)
    lines = [f"Paper TD3 HalfCheetah-v4, IF T=32, 11 alphas x {args.episodes} episodes x 1000 "
             f"steps (env stepping included); old = {old_commit}, new = {new_commit}; "
             f"`tools/sweep_old_vs_new.py --old {args.old}`, one run, old and new back to back "
             "per method.", "",
             "| method | old (s) | new (s) | new / old | old vs loop | new vs loop | mean return "
             "old / new | max action difference (40 decisions x 110 rows) |",
             "|---|---|---|---|---|---|---|---|"]
    for method, old, new, diff in rows:
        vs_loop = (f"{loop['seconds'] / old['seconds']:.1f}x | "
                   f"{loop['seconds'] / new['seconds']:.1f}x") if loop else "- | -"
        lines.append(f"| {method} | {old['seconds']:.1f} | {new['seconds']:.1f} | "
                     f"{new['seconds'] / old['seconds']:.2f} | {vs_loop} | "
                     f"{old['mean_return']:.1f} / {new['mean_return']:.1f} | {diff:.2g} |")
    if loop:
        lines.append(f"| official-style loop (torch, batch 1; unchanged code) | | "
                     f"{loop['seconds']:.1f} | | | 1x | {loop['mean_return']:.1f} | |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
