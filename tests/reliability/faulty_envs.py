"""Gymnasium envs that misbehave on purpose (registered under test-only ids)."""
import gymnasium as gym
import numpy as np

BASE = "InvertedDoublePendulum-v5"


class Faulty(gym.Wrapper):
    """Raises at step `fail_at`, returns NaN in obs[0] from step `nan_at`, scales obs by
    `obs_scale` (far outside the calibrated range)."""

    def __init__(self, fail_at=None, nan_at=None, obs_scale=1.0):
        super().__init__(gym.make(BASE))
        self.fail_at, self.nan_at, self.obs_scale, self.k = fail_at, nan_at, obs_scale, 0

    def reset(self, **kwargs):
        self.k = 0
        obs, info = self.env.reset(**kwargs)
        return obs * self.obs_scale, info

    def step(self, action):
        self.k += 1
        if self.fail_at is not None and self.k >= self.fail_at:
            raise RuntimeError("simulated sensor failure")
        obs, r, term, trunc, info = self.env.step(action)
        obs = obs * self.obs_scale
        if self.nan_at is not None and self.k >= self.nan_at:
            obs = obs.copy()
            obs[0] = np.nan
        return obs, r, term, trunc, info


def register(env_id: str, **kwargs) -> str:
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=lambda: Faulty(**kwargs), max_episode_steps=1000)
    return env_id
