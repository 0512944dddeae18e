"""Export a policy to NIR and run it in snnTorch, closed loop.

    python examples/nir_in_snntorch.py [--policy halfcheetah_v5_td3] [-T 16] [--episodes 3]

The NIR file is what any NIR consumer gets (docs/nir.md): thresholds normalised to 1, neurons
that reset to 0. snnTorch reads it with its own importer; the emulator under the same (NIR)
semantics and the deployed bundle (CRPI) run the same episodes for comparison.
"""
import argparse

import nir
import numpy as np
from snntorch.import_nir import import_from_nir

import loihi_deploy
from loihi_deploy.compiler.export_nir import nir_semantics
from loihi_deploy.runtime.closed_loop import run_episodes
from loihi_deploy.sim_backend.emulator import Emulator
from loihi_deploy.sim_backend.snntorch_nir import SnnTorchController


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", default="halfcheetah_v5_td3")
    parser.add_argument("-T", "--timesteps", type=int, default=16)
    parser.add_argument("--episodes", type=int, default=3)
    args = parser.parse_args()
    graph = loihi_deploy.compile(args.policy, timesteps=args.timesteps, membrane="crpi:0.5")
    path = loihi_deploy.export(graph, "policy.nir")
    print(import_from_nir(nir.read(str(path))))     # snnTorch's own view of the file
    seeds = 100 + np.arange(args.episodes)
    rows = {"snnTorch (NIR file)": SnnTorchController(path),
            "emulator, NIR semantics": Emulator(nir_semantics(graph), args.episodes),
            "emulator, deployed (CRPI 0.5)": Emulator(graph, args.episodes)}
    for label, controller in rows.items():
        returns = run_episodes(controller, graph.env_id, seeds,
                               env_kwargs=graph.env_kwargs).returns
        print(f"{label:<32}return {returns.mean():8.1f} (mean of {len(returns)} episodes)")


if __name__ == "__main__":
    main()
