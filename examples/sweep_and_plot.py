"""Sweep CRPI's alpha for a bundled policy and plot return vs alpha.

    python examples/sweep_and_plot.py [--policy halfcheetah_v5_td3] [-T 8] [--episodes 10]

Every alpha runs on the same episode seeds, so differences to vanilla (alpha 0) are paired;
"best" is marked only where the paired 95% CI excludes zero.
"""
import argparse

import loihi_deploy
from loihi_deploy.api import format_sweep_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", default="halfcheetah_v5_td3")
    parser.add_argument("-T", "--timesteps", type=int, default=8)
    parser.add_argument("--alphas", default="0:1:0.25")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--calib-episodes", type=int, default=10)
    parser.add_argument("--plot", default="sweep.png")
    args = parser.parse_args()
    result = loihi_deploy.sweep(args.policy, timesteps=args.timesteps, alphas=args.alphas,
                                episodes=args.episodes, calib_episodes=args.calib_episodes,
                                plot=args.plot, progress=True)
    print(format_sweep_table(result))
    print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
