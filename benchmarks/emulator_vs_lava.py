"""Benchmark: batched emulator vs Lava CPU simulation (Loihi2SimCfg) on the same network.

The paper's TD3 HalfCheetah actor (17-256-256-6), IF, CRPI, T=16, fixed point (and float).
Both backends replay the same recorded observation sequence (open loop, so only the spiking
network is timed): the emulator with a batch of B rows, Lava one decision at a time (what a
chip in the loop does). Reports per-decision throughput of each, their ratio measured in one
run, Lava's per-decision latency, and checks that Lava's actions equal the emulator's.

    python benchmarks/emulator_vs_lava.py --batch 256 --decisions 100
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
from loihi_deploy.api import compile_policy  # noqa: E402
from runtime.closed_loop import AnnController, episode_seeds, run_episodes  # noqa: E402
from runtime.lava_bridge import LavaController  # noqa: E402
from sim_backend.emulator import Emulator  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", default=str(ROOT.parent / "shared/reference_actors/"
                                            "TD3_HalfCheetah-v4_actor.pt"))
    ap.add_argument("--env", default="HalfCheetah-v4")
    ap.add_argument("-T", "--timesteps", type=int, default=16)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--decisions", type=int, default=100)
    ap.add_argument("--json", default=str(ROOT / "docs/results/bench_emulator_vs_lava.json"))
    args = ap.parse_args()
    ann = load_policy(args.policy, args.env)
    graph = compile_policy(ann, args.env, args.timesteps, MembranePolicy("crpi", 0.5),
                           profile="fixed")
    states = run_episodes(AnnController(ann), args.env, episode_seeds(100, 1),
                          max_steps=args.decisions, record=True).observations[0]
    rows = []
    for profile in ("fixed", "float"):
        emu = Emulator(graph, args.batch, profile=profile)
        t0 = time.perf_counter()
        for obs in states:
            emu.act(np.repeat(obs[None], args.batch, axis=0))
        emu_s = time.perf_counter() - t0
        with LavaController(graph, profile) as lava:
            lava.act(states[:1])  # compile and start the runtime (not timed)
            lava.reset()          # back to theta/2: the run below starts like a fresh one
            lava.latencies_s.clear()
            lava_actions = np.stack([lava.act(o[None])[0] for o in states])
            latency = np.array(lava.latencies_s)
        reference = Emulator(graph, 1, profile=profile, sum_order="lava")
        expected = np.stack([reference.act(o[None])[0] for o in states])
        emu_rate = args.batch * args.decisions / emu_s
        lava_rate = args.decisions / latency.sum()
        rows.append({"profile": profile, "emulator_decisions_per_s": emu_rate,
                     "emulator_ms_per_batched_decision": 1e3 * emu_s / args.decisions,
                     "lava_decisions_per_s": lava_rate, "ratio": emu_rate / lava_rate,
                     "lava_latency_ms_median": 1e3 * float(np.median(latency)),
                     "lava_latency_ms_p95": 1e3 * float(np.percentile(latency, 95)),
                     "lava_actions_equal_emulator": bool(np.array_equal(expected, lava_actions))})
    print(f"\n{args.env} TD3 actor {graph.obs_dim}-256-256-{graph.act_dim}, IF, CRPI 0.5, "
          f"T={args.timesteps}, {args.decisions} decisions; emulator batch {args.batch}")
    print(f"{'profile':<8}{'emulator dec/s':>16}{'Lava dec/s':>12}{'ratio':>9}"
          f"{'Lava latency median / p95':>28}{'Lava == emulator':>18}")
    for r in rows:
        print(f"{r['profile']:<8}{r['emulator_decisions_per_s']:>16.0f}"
              f"{r['lava_decisions_per_s']:>12.1f}{r['ratio']:>8.0f}x"
              f"{r['lava_latency_ms_median']:>17.1f} / {r['lava_latency_ms_p95']:.1f} ms"
              f"{str(r['lava_actions_equal_emulator']):>18}")
    pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.json).write_text(json.dumps({"args": vars(args), "command": " ".join(
        sys.argv), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
