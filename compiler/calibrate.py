"""Calibration: per-neuron thresholds from closed-loop rollouts of the ANN (REFERENCE 1.3).

The deterministic ANN runs `episodes` episodes (env reset seeds seed, seed+1, ...); every
hidden ReLU output on every visited state is recorded. theta = per-neuron max (the paper's
default) or a per-neuron percentile. Neurons that never activate get theta = 0 (silent).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from compiler.ir import AnnGraph
from runtime.closed_loop import AnnController, run_episodes


@dataclasses.dataclass(frozen=True)
class Calibration:
    """thresholds[l]: (n_l,) per hidden layer; info: how they were obtained."""
    thresholds: tuple[np.ndarray, ...]
    info: dict


def visited_states(ann: AnnGraph, env_id: str, episodes: int, seed: int,
                   progress: bool = False) -> np.ndarray:
    """(N, obs_dim) every observation the ANN acted on, over all episodes."""
    rollout = run_episodes(AnnController(ann), env_id, seed + np.arange(episodes), record=True,
                           progress="calibrate" if progress else False)
    return np.concatenate([rollout.observations[b, :n] for b, n in enumerate(rollout.lengths)])


def thresholds_from_states(ann: AnnGraph, states: np.ndarray, method: str = "max",
                           percentile: float = 99.99) -> tuple[np.ndarray, ...]:
    """Per-neuron max or percentile of each hidden layer's activations on `states`."""
    if method not in ("max", "percentile"):
        raise ValueError(f"calibration method must be 'max' or 'percentile', got {method!r}")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    activations: list[np.ndarray] = []
    ann.forward(states, activations)
    if method == "max":
        return tuple(a.max(axis=0) for a in activations)
    return tuple(np.percentile(a, percentile, axis=0) for a in activations)


def calibrate(ann: AnnGraph, env_id: str, episodes: int = 10, seed: int = 0,
              method: str = "max", percentile: float = 99.99,
              progress: bool = False) -> Calibration:
    states = visited_states(ann, env_id, episodes, seed, progress)
    thresholds = thresholds_from_states(ann, states, method, percentile)
    info = {"env_id": env_id, "episodes": episodes, "seed": seed, "method": method,
            "states": int(len(states)),
            "obs_absmax": np.abs(states).max(axis=0).round(6).tolist()}
    if method == "percentile":
        info["percentile"] = percentile
    return Calibration(thresholds, info)
