"""A Lava child process that dies: bounded error, nothing leaks."""
import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

from loihi_deploy.compiler.ir import MembranePolicy
from loihi_deploy.api import compile_policy, load_ann
from loihi_deploy.runtime.lava_bridge import LavaController, LavaTimeout

pytestmark = pytest.mark.lava
IDP = ("inverted_double_pendulum_v5_td3", "InvertedDoublePendulum-v5")


def _graph(policy, env, T, membrane, profile="fixed"):
    return compile_policy(load_ann(policy, env), env, T, membrane, calib_episodes=2,
                          profile=profile)


def _shm_entries():
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def test_dead_child_gives_a_bounded_error_and_nothing_leaks():
    shm_before = _shm_entries()
    graph = _graph(*IDP, 4, MembranePolicy("crpi", 0.5))
    lava = LavaController(graph, "fixed", timeout_s=3.0)
    lava.reset()
    lava.act(np.zeros((1, graph.obs_dim)))
    models = [c for c in multiprocessing.active_children() if type(c).__name__ == "SystemProcess"]
    assert models, "Lava should run its process models in child processes"
    os.kill(models[0].pid, signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(LavaTimeout):
        lava.act(np.zeros((1, graph.obs_dim)))
    lava.close(timeout_s=5.0)
    assert time.monotonic() - start < 20
    deadline = time.monotonic() + 5.0  # segment unlinking by Lava's manager is asynchronous
    while (_shm_entries() - shm_before or multiprocessing.active_children()) and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert multiprocessing.active_children() == []
    assert _shm_entries() - shm_before == set(), "leaked shared-memory segments"
