"""Bundled policies: metadata is consistent with the weights (hash, sizes, recorded returns)."""
import json
import pathlib

import numpy as np
import pytest

from compiler.frontend import load_policy, sha256_file
from loihi_deploy.train import EVAL_SEED
from loihi_deploy.zoo import bundled_policies
from runtime.closed_loop import AnnController, run_episodes
from runtime.pixels import is_pixel_env

ZOO = bundled_policies()


def test_the_demo_and_test_policies_are_bundled():
    assert {"halfcheetah_v5_td3", "inverted_double_pendulum_v5_td3"} <= set(ZOO)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_recorded_evaluation_reproduces(name):
    meta = ZOO[name]
    path = pathlib.Path(meta["path"])
    assert sha256_file(path) == meta["sha256"], f"{path} changed after its metadata was written"
    graph = load_policy(path, meta["env_id"])
    assert (graph.obs_dim, graph.act_dim) == (meta["obs_dim"], meta["act_dim"])
    recorded = meta["evaluation"]["returns"]
    assert meta["evaluation"]["reset_seeds"].startswith(str(EVAL_SEED))
    assert np.isclose(np.mean(recorded), meta["evaluation"]["mean"])
    # Re-run the recorded evaluation: deterministic, so every return must repeat. The whole
    # batch is replayed because float BLAS rounds differently at other batch sizes, and a
    # chaotic task (HalfCheetah) turns a last-bit difference into another episode. Pixel
    # frames come from a software renderer (Mesa's llvmpipe) whose rasterisation may differ in
    # the last pixel between CPUs: their returns must agree within 5%, not to the bit.
    returns = run_episodes(AnnController(graph), meta["env_id"],
                           EVAL_SEED + np.arange(len(recorded))).returns
    if is_pixel_env(meta["env_id"]):
        np.testing.assert_allclose(returns, recorded, rtol=0.05, atol=1.0)
    else:
        np.testing.assert_allclose(returns, recorded, atol=0.01)
    command = json.loads(path.with_suffix(".json").read_text())["command"]
    assert command.startswith(("loihi-deploy train", "loihi-deploy distill"))
