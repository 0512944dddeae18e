"""Bundled policies: metadata is consistent with the weights (hash, sizes, recorded returns).

Recorded returns were measured on one machine; a replay elsewhere is compared statistically
(loihi_deploy.stats.replay_agrees, docs/reproducibility.md), never value by value."""
import json
import pathlib

import numpy as np
import pytest

from loihi_deploy.compiler.frontend import sha256_file
from loihi_deploy.api import load_ann
from loihi_deploy.stats import replay_agrees
from loihi_deploy.training.train import EVAL_SEED
from loihi_deploy.zoo import bundled_policies, recorded_evaluation
from loihi_deploy.runtime.closed_loop import AnnController, run_episodes

ZOO = bundled_policies()


def test_the_demo_and_test_policies_are_bundled():
    assert {"halfcheetah_v5_td3", "inverted_double_pendulum_v5_td3"} <= set(ZOO)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_bundled_weights_match_their_metadata(name):
    """Machine-independent: the weights' sha256, shapes, provenance."""
    meta = ZOO[name]
    path = pathlib.Path(meta["path"])
    assert sha256_file(path) == meta["sha256"], f"{path} changed after its metadata was written"
    graph = load_ann(path, meta["env_id"])
    assert (graph.obs_dim, graph.act_dim) == (meta["obs_dim"], meta["act_dim"])
    command = json.loads(path.with_suffix(".json").read_text())["command"]
    assert command.startswith(("loihi-deploy train", "loihi-deploy distill"))


@pytest.mark.parametrize("name", sorted(ZOO))
def test_recorded_evaluation_replays_statistically(name):
    """Re-run the recorded evaluation (same reset seeds): the replayed mean must agree with the
    recorded one within the replay interval. Exact equality holds only on a CPU whose BLAS
    kernels match the recording machine's; chaotic tasks turn a last-bit difference into
    another episode elsewhere."""
    meta = ZOO[name]
    recorded = recorded_evaluation(meta)
    assert meta["evaluation"]["reset_seeds"].startswith(str(EVAL_SEED))
    graph = load_ann(pathlib.Path(meta["path"]), meta["env_id"])   # env_kwargs: its metadata's
    returns = run_episodes(AnnController(graph), meta["env_id"],
                           EVAL_SEED + np.arange(len(recorded)),
                           env_kwargs=meta.get("env_kwargs")).returns
    check = replay_agrees(returns, recorded)
    assert check.agrees, f"{name}: {check.summary()}"
