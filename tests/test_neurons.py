"""The neuron equations against hand-computed values (REFERENCE 1.1 / 1.2)."""
import numpy as np

from sim_backend import neurons


def test_if_step_charges_fires_strictly_and_subtracts():
    theta = np.array([1.0, 1.0, 2.0])
    v, s, _ = neurons.if_step(np.array([0.5, 0.5, 1.0]), np.array([0.4, 0.6, 3.5]), theta)
    # 0.9 < 1 no spike; 1.1 > 1 spike -> 0.1; 4.5 > 2 spike -> 2.5 (one spike per step)
    np.testing.assert_allclose(v, [0.9, 0.1, 2.5])
    np.testing.assert_array_equal(s, [False, True, True])
    v, s, _ = neurons.if_step(np.array([0.5]), np.array([0.5]), np.array([1.0]))
    assert not s[0] and v[0] == 1.0  # exactly at threshold: no spike (strict >)


def test_crpi_rule_by_hand():
    theta = np.full(4, 2.0)
    v0 = np.array([1.0, 1.0, 1.0, 1.0])
    v_end = np.array([1.3, 0.2, 1.9, -3.0])
    n = np.array([3, 1, 0, 0])
    got = neurons.crpi_initial_potential(v0, v_end, n, theta, 0.5)
    # dv = [0.3, -0.8, 0.9, max(-4, -0)=0]; 1 + clip(0.5*dv, -1, 1)
    np.testing.assert_allclose(got, [1.15, 0.6, 1.45, 1.0])
    # large changes clip to [0, theta]
    big = neurons.crpi_initial_potential(np.ones(2), np.array([9.0, -9.0]), np.array([0, 9]),
                                         np.full(2, 2.0), 1.0)
    np.testing.assert_allclose(big, [2.0, 0.0])


def test_alpha_zero_is_vanilla_and_free_carries_membrane():
    rng = np.random.default_rng(1)
    theta = rng.uniform(0.5, 2, 10)
    v0, v_end, n = rng.normal(size=10), rng.normal(size=10) * 3, rng.integers(0, 5, 10)
    np.testing.assert_array_equal(
        neurons.next_initial_potential("crpi", v0, v_end, n, theta, 0.0), theta / 2)
    np.testing.assert_array_equal(
        neurons.next_initial_potential("vanilla", v0, v_end, n, theta, 0.0), theta / 2)
    np.testing.assert_array_equal(
        neurons.next_initial_potential("free", v0, v_end, n, theta, 0.0), v_end)
