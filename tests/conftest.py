import pathlib

import numpy as np
import pytest

from loihi_deploy.compiler.ir import ActionHead, AnnGraph, Dense

REFERENCE_ACTORS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "reference_actors"


@pytest.fixture
def reference_actor():
    """Path of one of the paper's released actors; skips when ../shared is absent."""
    def get(name: str) -> pathlib.Path:
        path = REFERENCE_ACTORS / name
        if not path.exists():
            pytest.skip(f"paper actor {path} not present (../shared/reference_actors)")
        return path
    return get


def random_ann(obs_dim=5, hidden=(16, 12), act_dim=2, seed=0) -> AnnGraph:
    rng = np.random.default_rng(seed)
    sizes = [obs_dim, *hidden]
    layers = [Dense(rng.normal(0, 1 / np.sqrt(i), (o, i)), rng.normal(0, 0.3, o))
              for i, o in zip(sizes[:-1], sizes[1:])]
    readout = Dense(rng.normal(0, 1 / np.sqrt(sizes[-1]), (act_dim, sizes[-1])),
                    rng.normal(0, 0.1, act_dim))
    return AnnGraph(tuple(layers), readout, ActionHead.from_bounds(-np.ones(act_dim),
                                                                   np.ones(act_dim)))
