"""Compile a Stable-Baselines3 TD3/SAC model and gate its spiking version like a unit test.

    python examples/gate_sb3_model.py MODEL.zip --env InvertedPendulum-v5 [--min-ratio 0.8]

The zip is read without unpickling (only its policy.pth and JSON numbers). In your own pytest
suite the last two lines are the test:

    def test_spiking_policy_still_balances():
        assert_deploys("ip.h5", min_ratio=0.8, episodes=10)
"""
import argparse

import loihi_deploy
from loihi_deploy.testing import assert_deploys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="SB3 model .zip (or a zoo run folder's model .zip)")
    parser.add_argument("--env", required=True, help="gymnasium id the model was trained on")
    parser.add_argument("--min-ratio", type=float, default=0.8)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--out", default="gated.h5")
    args = parser.parse_args()
    loihi_deploy.compile(args.model, args.env, timesteps=16, membrane="crpi:0.5",
                         profile="fixed", output=args.out)
    result = assert_deploys(args.out, min_ratio=args.min_ratio, episodes=args.episodes)
    print(result.summary())


if __name__ == "__main__":
    main()
