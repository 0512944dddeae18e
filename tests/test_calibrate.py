import numpy as np
import pytest

from loihi_deploy.compiler.calibrate import calibrate, thresholds_from_states
from tests.conftest import random_ann


def test_max_and_percentile_per_neuron():
    ann = random_ann()
    states = np.random.default_rng(0).normal(size=(500, ann.obs_dim))
    acts = []
    ann.forward(states, acts)
    th_max = thresholds_from_states(ann, states, "max")
    th_p = thresholds_from_states(ann, states, "percentile", 90)
    for a, m, p in zip(acts, th_max, th_p):
        np.testing.assert_array_equal(m, a.max(axis=0))
        np.testing.assert_allclose(p, np.percentile(a, 90, axis=0))
        assert np.all(p <= m)
    with pytest.raises(ValueError, match="'max' or 'percentile'"):
        thresholds_from_states(ann, states, "mean")


def test_calibration_is_seeded_and_counts_states():
    from loihi_deploy.api import calibrate_policy, load_ann
    ann = load_ann("inverted_double_pendulum_v5_td3")
    a = calibrate_policy(ann, "InvertedDoublePendulum-v5", episodes=2, seed=5)
    b = calibrate_policy(ann, "InvertedDoublePendulum-v5", episodes=2, seed=5)
    assert a.info["states"] > 2 and a.info["seed"] == 5
    for x, y in zip(a.thresholds, b.thresholds):
        np.testing.assert_array_equal(x, y)
