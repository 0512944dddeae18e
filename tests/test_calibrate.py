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
    with pytest.raises(ValueError, match="one of max, percentile, episode-max"):
        thresholds_from_states(ann, states, "mean")


def test_episode_max_is_a_percentile_of_each_episodes_maximum():
    ann = random_ann()
    lengths = np.array([40, 1, 95, 64, 30])
    states = np.random.default_rng(3).normal(size=(lengths.sum(), ann.obs_dim))
    acts = []
    ann.forward(states, acts)
    ends = np.cumsum(lengths)
    for q in (50, 90, 100):
        thresholds = thresholds_from_states(ann, states, "episode-max", q,
                                            episode_lengths=lengths)
        for a, t in zip(acts, thresholds):
            maxima = np.stack([a[end - n:end].max(axis=0) for n, end in zip(lengths, ends)])
            np.testing.assert_array_equal(t, np.percentile(maxima, q, axis=0))
    np.testing.assert_array_equal(          # the 100th percentile of the maxima is the max
        thresholds_from_states(ann, states, "episode-max", 100, episode_lengths=lengths)[0],
        thresholds_from_states(ann, states, "max")[0])
    for bad in (None, [229], [0, 230], [100, 131, -1]):
        with pytest.raises(ValueError, match="needs the episodes' lengths"):
            thresholds_from_states(ann, states, "episode-max", 90, episode_lengths=bad)


@pytest.mark.parametrize("chunk", [1, 7, 256, 1000])
@pytest.mark.parametrize("q", [50, 99, 99.9, 100])
def test_percentile_from_the_largest_values_is_numpys(chunk, q):
    """Only the values at or above the percentile's lower order statistic are kept between
    chunks; the result is numpy's percentile to the last bit, whatever the chunking."""
    ann = random_ann()
    states = np.random.default_rng(1).normal(size=(1001, ann.obs_dim))
    chunks = []      # forward in the same chunks: BLAS may round a batch of 1 differently
    for start in range(0, len(states), chunk):
        chunks.append([])
        ann.forward(states[start:start + chunk], chunks[-1])
    acts = [np.concatenate(layer) for layer in zip(*chunks)]
    for a, p in zip(acts, thresholds_from_states(ann, states, "percentile", q, chunk)):
        np.testing.assert_array_equal(p, np.percentile(a, q, axis=0))


def test_calibration_is_seeded_and_counts_states():
    from loihi_deploy.api import calibrate_policy, load_ann
    ann = load_ann("inverted_double_pendulum_v5_td3")
    a = calibrate_policy(ann, "InvertedDoublePendulum-v5", episodes=2, seed=5)
    b = calibrate_policy(ann, "InvertedDoublePendulum-v5", episodes=2, seed=5)
    assert a.info["states"] > 2 and a.info["seed"] == 5
    for x, y in zip(a.thresholds, b.thresholds):
        np.testing.assert_array_equal(x, y)
    c = calibrate_policy(ann, "InvertedDoublePendulum-v5", 3, 5, "episode-max", 50)
    assert c.info["method"] == "episode-max" and c.info["percentile"] == 50
