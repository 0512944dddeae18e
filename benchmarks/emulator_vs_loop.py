"""Benchmark: the batched emulator vs a per-sample loop in the style of the official code.

Both run the same alpha sweep (IF, CRPI, every alpha x every episode, full episodes with
MuJoCo stepping included) and are timed in one run, so the ratio is what counts on a shared
machine. The loop transcribes the structure of the paper's MuJoCo/convert.py: torch float32,
batch 1, a Python loop over T, one env and one alpha at a time, neuron state in modules.

    python benchmarks/emulator_vs_loop.py                 # 11 alphas x 10 episodes x T=32
    python benchmarks/emulator_vs_loop.py --episodes 2    # quicker
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compiler.calibrate import calibrate  # noqa: E402
from compiler.convert import convert  # noqa: E402
from compiler.frontend import load_policy  # noqa: E402
from compiler.ir import MembranePolicy  # noqa: E402
from compiler.quantize import quantize  # noqa: E402
from runtime.closed_loop import (episode_seeds, run_episodes_parallel,  # noqa: E402
                                 default_workers)
from runtime.envs import make_env  # noqa: E402
from sim_backend.emulator import Emulator  # noqa: E402


class OfficialStyleIF(torch.nn.Module):
    """IF neuron with the official code's per-step structure (init/mem/fire state)."""

    def __init__(self, theta: np.ndarray):
        super().__init__()
        self.thre = torch.tensor(theta, dtype=torch.float32)
        self.rate = 0.0
        self.init = torch.zeros(1, theta.size)
        self.mem = torch.zeros(1, theta.size)
        self.fire = torch.zeros(1, theta.size)
        self.T = 0

    def forward(self, x):
        if self.T == 0:
            self.init = self.init + 0.5 * self.thre
            self.mem = self.init
        self.mem = self.mem + x
        self.fire += (self.mem - self.thre) > 0
        x = ((self.mem - self.thre) > 0) * self.thre
        self.mem = self.mem - x
        self.T += 1
        return x

    def reset(self):
        low = -self.thre * self.fire
        self.init = torch.clamp(self.mem - self.init, min=low)
        high = 0.5 * self.thre
        self.init = torch.clamp(self.init * self.rate, -high, high)
        self.mem = self.init
        self.T = 0
        self.fire = torch.zeros(1, self.thre.numel())


class OfficialStyleActor(torch.nn.Module):
    def __init__(self, graph):
        super().__init__()
        def linear(d):
            lin = torch.nn.Linear(d.shape[1], d.shape[0])
            lin.weight.data = torch.tensor(d.weight, dtype=torch.float32)
            lin.bias.data = torch.tensor(d.bias, dtype=torch.float32)
            return lin
        self.l1, self.l2 = (linear(h.synapse) for h in graph.hidden)
        self.l3 = linear(graph.readout)
        self.n1, self.n2 = (OfficialStyleIF(h.threshold) for h in graph.hidden)
        self.timestep = graph.timesteps

    def reset_model(self):
        self.n1.reset()
        self.n2.reset()

    def forward(self, state):
        self.reset_model()
        out = torch.zeros(1, self.n2.thre.numel())
        for _ in range(self.timestep):
            out += self.n2(self.l2(self.n1(self.l1(state))))
        return torch.tanh(self.l3(out / self.timestep))


def official_style_sweep(graph, env_id, alphas, seeds) -> np.ndarray:
    actor = OfficialStyleActor(graph)
    returns = np.zeros((len(alphas), len(seeds)))
    with torch.no_grad():
        for i, alpha in enumerate(alphas):
            actor.n1.rate = actor.n2.rate = alpha
            env = make_env(env_id)
            for j, seed in enumerate(seeds):
                obs, _ = env.reset(seed=int(seed))
                for n in (actor.n1, actor.n2):  # episode start: the carry is cleared
                    n.mem = n.init = torch.zeros_like(n.mem)
                    n.fire = torch.zeros_like(n.fire)
                done = False
                while not done:
                    action = actor(torch.FloatTensor(obs.reshape(1, -1))).numpy().flatten()
                    obs, r, term, trunc, _ = env.step(action)
                    returns[i, j] += r
                    done = term or trunc
            env.close()
    return returns


def emulator_sweep(graph, env_id, alphas, seeds, profile, workers) -> np.ndarray:
    """What `loihi-deploy sweep` does: alpha x episode rows in emulator batches, split across
    `workers` processes."""
    row_alpha = np.repeat(alphas, len(seeds))
    rollout = run_episodes_parallel(
        lambda rows: Emulator(graph, len(rows), alpha=row_alpha[rows], profile=profile),
        env_id, np.tile(seeds, len(alphas)), workers=workers)
    return rollout.returns.reshape(len(alphas), len(seeds))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_policy = ROOT.parent / "shared/reference_actors/TD3_HalfCheetah-v4_actor.pt"
    ap.add_argument("--policy", default=str(default_policy))
    ap.add_argument("--env", default="HalfCheetah-v4")
    ap.add_argument("-T", "--timesteps", type=int, default=32)
    ap.add_argument("--alphas", type=int, default=11, help="alpha grid size over [0, 1]")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--json", default=str(ROOT / "docs/results/bench_emulator_vs_loop.json"))
    args = ap.parse_args()
    if not pathlib.Path(args.policy).exists():
        sys.exit(f"{args.policy}: not found (the paper's actors live in ../shared/reference_actors;"
                 f" pass --policy and --env for another policy)")
    ann = load_policy(args.policy, args.env)
    cal = calibrate(ann, args.env)
    graph = quantize(convert(ann, cal, args.timesteps, MembranePolicy("crpi", 0.0)),
                     np.asarray(cal.info["obs_absmax"]))
    alphas = np.linspace(0, 1, args.alphas).round(3)
    seeds = episode_seeds(100, args.episodes)
    rows = []
    batch = len(alphas) * len(seeds)
    workers = default_workers()
    for name, fn in [(f"emulator float64 (batch {batch}, 1 process)",
                      lambda: emulator_sweep(graph, args.env, alphas, seeds, "float", 1)),
                     (f"emulator float64 (batch {batch}, {workers} processes)",
                      lambda: emulator_sweep(graph, args.env, alphas, seeds, "float", workers)),
                     (f"emulator Loihi fixed point ({workers} processes)",
                      lambda: emulator_sweep(graph, args.env, alphas, seeds, "fixed", workers)),
                     ("official-style loop (torch, batch 1)",
                      lambda: official_style_sweep(graph, args.env, alphas, seeds))]:
        t0 = time.perf_counter()
        returns = fn()
        rows.append({"method": name, "seconds": time.perf_counter() - t0,
                     "mean_return": float(returns.mean())})
        print(f"  {name}: {rows[-1]['seconds']:.1f} s", flush=True)
    loop_s = rows[-1]["seconds"]
    print(f"\n{args.env}  IF T={args.timesteps}  {len(alphas)} alphas x {len(seeds)} episodes "
          f"(full episodes, env stepping included)  torch threads {torch.get_num_threads()}")
    print(f"{'method':<40}{'seconds':>10}{'speed-up vs loop':>18}{'mean return':>13}")
    for r in rows:
        r["speedup_vs_loop"] = loop_s / r["seconds"]
        print(f"{r['method']:<40}{r['seconds']:>10.1f}{r['speedup_vs_loop']:>17.1f}x"
              f"{r['mean_return']:>13.1f}")
    pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.json).write_text(json.dumps(
        {"env_id": args.env, "timesteps": args.timesteps, "alphas": alphas.tolist(),
         "episodes": args.episodes, "command": " ".join(sys.argv), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
