"""Run a compiled bundle on Lava's CPU simulation at the env's real control rate.

    python examples/lava_paced.py BUNDLE [--episodes 1]

Each decision must finish within the env's control period; a late one is counted as a
deadline miss and the env keeps the previous action. Prints the latency distribution.
"""
import argparse

import numpy as np

from loihi_deploy.api import run_backend
from loihi_deploy.compiler.bundle import load_bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle")
    parser.add_argument("--episodes", type=int, default=1)
    args = parser.parse_args()
    graph = load_bundle(args.bundle)
    run = run_backend(graph, None, args.episodes, backend="lava", pace=True, progress=True)
    latency_ms = 1e3 * np.asarray(run.latencies_s)
    print(f"{graph.env_id}: {len(latency_ms)} decisions at a {1e3 * run.period_s:.0f} ms period; "
          f"latency median {np.median(latency_ms):.1f} ms, 99th percentile "
          f"{np.percentile(latency_ms, 99):.1f} ms; {run.deadline_misses} deadline misses; "
          f"return {run.returns.mean():.1f}")


if __name__ == "__main__":
    main()
