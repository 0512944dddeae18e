"""Real-time pacing: one decision per control period of the env, with deadline misses counted.

A decision that is not ready within the period misses its deadline. The documented fallback:
the env gets the previous action again (zero-order hold, what an actuator does when no new
command arrives; zeros before the first action) and the late action is dropped. A decision
that is on time waits out the rest of the period, so the loop runs at the env's real rate.
"""
from __future__ import annotations

import time

import numpy as np


def control_period_s(env_id: str, env_kwargs: dict | None = None) -> float:
    """The env's control period in seconds (MuJoCo: timestep x frame_skip)."""
    from loihi_deploy.runtime.envs import make_env
    env = make_env(env_id, env_kwargs)
    try:
        return float(env.unwrapped.dt)
    finally:
        env.close()


class PacedController:
    """Wraps a controller; counts deadline misses and applies the hold fallback."""

    def __init__(self, inner, period_s: float, fallback: str = "hold"):
        if fallback not in ("hold", "zero"):
            raise ValueError(f"fallback must be 'hold' or 'zero', got {fallback!r}")
        self.inner, self.period_s, self.fallback = inner, float(period_s), fallback
        self.misses = 0
        self.decisions = 0
        self.latencies_s: list[float] = []
        self._last = None

    def reset(self) -> None:
        self.inner.reset()
        self._last = None

    def act(self, obs: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        action = self.inner.act(obs)
        elapsed = time.perf_counter() - start
        self.latencies_s.append(elapsed)
        self.decisions += 1
        if elapsed > self.period_s:
            self.misses += 1
            held = self._last if self._last is not None and self.fallback == "hold" else None
            action = held if held is not None else np.zeros_like(action)
        else:
            time.sleep(self.period_s - elapsed)
        self._last = action
        return action
