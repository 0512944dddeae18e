"""Real-time pacing: one decision per control period of the env, with deadline misses counted.

A decision that is not ready within the period misses its deadline. The documented fallback:
the env gets the previous action again (zero-order hold, what an actuator does when no new
command arrives; zeros before the first action) and the late action is dropped. A decision
that is on time waits out the rest of the period, so the loop runs at the env's real rate.
"""
from __future__ import annotations

import time

import numpy as np


def control_period_s(env_id: str, env_kwargs: dict | None = None) -> tuple[float, int]:
    """The env's control period in seconds (MuJoCo: timestep x frame_skip) and its time limit
    in decisions."""
    from loihi_deploy.runtime.closed_loop import decisions_per_episode
    from loihi_deploy.runtime.envs import make_env
    env = make_env(env_id, env_kwargs)
    try:
        return float(env.unwrapped.dt), decisions_per_episode(env)
    finally:
        env.close()


def pacing_note(period_s: float, decisions: int, episodes: int) -> str:
    """What a paced run will take, said before it starts (a bundle may declare a control
    period of seconds: frame_skip up to compiler.limits' bound)."""
    total = period_s * decisions * episodes
    hours, rest = divmod(int(round(total)), 3600)
    span = f"{hours} h {rest // 60:02d} min" if hours else f"{total / 60:.1f} min"
    return (f"real-time pacing: one decision every {period_s * 1e3:g} ms (the env's control "
            f"period); {episodes} episode(s) of up to {decisions} decisions take up to {span}; "
            f"Ctrl-C stops and reports the finished episodes")


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
