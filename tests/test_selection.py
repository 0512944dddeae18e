"""Honest selection: a knob chosen on some episodes is reported on others, and "better" needs
the paired 95% CI of the difference to exclude 0; aggregates carry bootstrap CIs and IQMs."""
import numpy as np
import pytest

from loihi_deploy.api import HeldOut, SweepResult, format_sweep_table
from loihi_deploy.stats import bootstrap_ci, interquartile_mean


def _result(held: HeldOut) -> SweepResult:
    rng = np.random.default_rng(0)
    return SweepResult("X-v0", 8, 5, 100, [0.0, 0.5], rng.normal(100, 1, 5),
                       np.stack([rng.normal(50, 1, 5), rng.normal(60, 1, 5)]), "if", held)


def test_better_needs_the_paired_interval_above_zero():
    vanilla = np.array([50.0, 52, 48, 51, 49])
    clear = HeldOut(0.5, 10100, vanilla + 50, vanilla, vanilla + 10 + np.arange(5) * 0.1)
    noisy = HeldOut(0.5, 10100, vanilla + 50, vanilla, vanilla + np.array([9, -8, 7, -9, 2.0]))
    assert clear.better and not noisy.better
    assert "better than vanilla" in format_sweep_table(_result(clear))
    assert "no alpha is shown better" in format_sweep_table(_result(noisy))


def test_a_sweep_without_test_episodes_says_its_selection_is_overstated():
    text = format_sweep_table(_result(None))
    assert "<- selected" in text and "overstates" in text and "better" not in text


def test_interquartile_mean_and_bootstrap():
    assert interquartile_mean([1, 2, 3, 4]) == 2.5
    assert interquartile_mean([1, 2, 3, 4, 100]) == 3.0     # the outlier is trimmed
    value, low, high = bootstrap_ci([0.9, 1.0, 0.8, 0.95])
    assert low <= value <= high and value == np.mean([0.9, 1.0, 0.8, 0.95])
    assert bootstrap_ci([0.5, 0.5, 0.5])[1:] == (0.5, 0.5)


def test_success_interval_is_wilsons_and_stays_in_the_unit_interval():
    from loihi_deploy.stats import success_ci95
    low, high = success_ci95(45, 50)                 # 90%: Wilson (0.786, 0.957)
    assert abs(low - 0.7864) < 1e-3 and abs(high - 0.9565) < 1e-3
    assert success_ci95(0, 20)[0] == 0.0 and 0.15 < success_ci95(0, 20)[1] < 0.17
    assert success_ci95(20, 20)[1] == 1.0 and success_ci95(20, 20)[0] < 1.0


def test_group_effect_separates_a_seed_effect_from_episode_noise():
    """Calibration-seed groups: pure episode noise gives (almost) no effect and a large p; a
    shift of the group means by 0, 1, .., 4 episode stds is found, near its true std 1.58."""
    from loihi_deploy.stats import group_effect
    rng = np.random.default_rng(0)
    noise = [rng.normal(0, 1, 400) for _ in range(5)]
    effect, p_value = group_effect(noise)
    assert effect < 0.1 and p_value > 0.01
    shifted = [g + k for k, g in enumerate(noise)]
    effect, p_value = group_effect(shifted)
    assert abs(effect - np.std(np.arange(5), ddof=1)) < 0.1 and p_value < 1e-6
    with pytest.raises(ValueError, match="at least 2 groups"):
        group_effect([np.ones(3)])
