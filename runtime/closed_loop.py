"""Closed-loop runner: a batch of gymnasium envs driven by one batched controller.

Row b of the batch runs exactly one episode, in its own env, reset with seed `seeds[b]`.
Every decision the controller maps the (B, obs_dim) observations to (B, act_dim) actions;
rows whose episode has ended keep being fed their last observation and their actions are
ignored. This is how episodes x alpha values run as one batch through the emulator.

A controller is any object with
    reset() -> None                      start of the episodes (all rows)
    act(obs: (B, obs_dim) float64) -> (B, act_dim) float64 actions in the env's units
"""
from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from runtime.envs import make_env


class Controller(Protocol):
    def reset(self) -> None: ...
    def act(self, obs: np.ndarray) -> np.ndarray: ...


@dataclasses.dataclass
class Rollout:
    """Returns (B,), lengths (B,) in env steps; obs/actions (B, steps, dim) when recorded."""
    returns: np.ndarray
    lengths: np.ndarray
    observations: np.ndarray | None = None
    actions: np.ndarray | None = None


class NonFiniteObservation(ValueError):
    pass


def run_episodes(controller: Controller, env_id: str, seeds, *, max_steps: int | None = None,
                 record: bool = False, progress: bool | str = False,
                 nan_policy: str = "raise") -> Rollout:
    """Run one episode per seed in lock-step; see the module docstring.

    nan_policy: "raise" (default) stops with NonFiniteObservation naming the row and step;
    "zero" replaces non-finite observation entries by 0.
    """
    seeds = [int(s) for s in seeds]
    envs = [make_env(env_id) for _ in seeds]
    try:
        horizon = max_steps or envs[0].spec.max_episode_steps or 1000
        obs = np.stack([env.reset(seed=s)[0] for env, s in zip(envs, seeds)]).astype(np.float64)
        batch = len(envs)
        returns = np.zeros(batch)
        lengths = np.zeros(batch, dtype=np.int64)
        active = np.ones(batch, dtype=bool)
        obs_log, act_log = [], []
        controller.reset()
        label = progress if isinstance(progress, str) else env_id
        bar = tqdm(total=horizon, desc=label, disable=not progress, leave=False, unit="step")
        for step in range(horizon):
            bad = ~np.isfinite(obs)
            if bad.any():
                if nan_policy == "raise":
                    row = int(np.argwhere(bad)[0, 0])
                    raise NonFiniteObservation(
                        f"{env_id}: non-finite observation in row {row} (seed {seeds[row]}) at "
                        f"step {step}; pass nan_policy='zero' to replace such entries by 0")
                obs = np.where(bad, 0.0, obs)
            actions = np.asarray(controller.act(obs), dtype=np.float64)
            if record:
                obs_log.append(obs.copy())
                act_log.append(actions.copy())
            for b in np.flatnonzero(active):
                o, r, terminated, truncated, _ = envs[b].step(actions[b])
                obs[b] = o
                returns[b] += r
                lengths[b] += 1
                if terminated or truncated:
                    active[b] = False
            bar.update(1)
            if not active.any():
                break
        bar.close()
    finally:
        for env in envs:
            env.close()
    if record:
        return Rollout(returns, lengths, np.stack(obs_log, 1), np.stack(act_log, 1))
    return Rollout(returns, lengths)


class AnnController:
    """The source ANN as a controller (stateless)."""

    def __init__(self, graph):
        self.graph = graph

    def reset(self) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.graph.forward(obs)


def episode_seeds(seed: int, episodes: int) -> np.ndarray:
    """Env reset seeds of evaluation episodes 0..episodes-1 (shared by every policy compared)."""
    return seed + np.arange(episodes)
