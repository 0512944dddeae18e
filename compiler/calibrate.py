"""Calibration: per-neuron thresholds from closed-loop rollouts of the ANN (REFERENCE 1.3).

The deterministic ANN runs `episodes` episodes (env reset seeds seed, seed+1, ...); every
hidden ReLU output on every visited state is recorded. theta = per-neuron max (the paper's
default) or a per-neuron percentile; convolutional layers get one theta per channel (max or
percentile over all its positions). Neurons that never activate get theta = 0 (silent).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from compiler.ir import AnnGraph, Conv2d
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
                           percentile: float = 99.99, chunk: int = 256) -> tuple[np.ndarray, ...]:
    """Per-neuron max or percentile of each hidden layer's activations on `states` (run in
    chunks of `chunk` rows). A convolution's neurons share one threshold per channel: the max
    or percentile over every position of the channel."""
    if method not in ("max", "percentile"):
        raise ValueError(f"calibration method must be 'max' or 'percentile', got {method!r}")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    pooled: list[list[np.ndarray]] = [[] for _ in ann.hidden]
    for start in range(0, len(states), chunk):
        activations: list[np.ndarray] = []
        ann.forward(np.asarray(states[start:start + chunk], dtype=np.float64), activations)
        for k, (layer, a) in enumerate(zip(ann.hidden, activations)):
            grouped = _by_channel(layer, a)              # (channels, samples)
            pooled[k].append(grouped.max(axis=1, keepdims=True) if method == "max"
                             else grouped.astype(np.float32))
    thresholds = []
    for layer, parts in zip(ann.hidden, pooled):
        grouped = np.concatenate(parts, axis=1)
        per_channel = grouped.max(axis=1) if method == "max" else \
            np.percentile(grouped, percentile, axis=1)
        thresholds.append(np.asarray(per_channel, dtype=np.float64)[layer.channel_of])
    return tuple(thresholds)


def _by_channel(layer, activations: np.ndarray) -> np.ndarray:
    """(B, n) activations -> (channels, samples): a Dense neuron is its own channel; a
    Conv2d channel pools its B x H x W positions."""
    if isinstance(layer, Conv2d):
        c, h, w = layer.out_shape
        return activations.reshape(-1, c, h * w).transpose(1, 0, 2).reshape(c, -1)
    return activations.T


def calibrate(ann: AnnGraph, env_id: str, episodes: int = 10, seed: int = 0,
              method: str = "max", percentile: float = 99.99,
              progress: bool = False) -> Calibration:
    states = visited_states(ann, env_id, episodes, seed, progress)
    thresholds = thresholds_from_states(ann, states, method, percentile)
    absmax = states if states.dtype.kind == "u" else np.abs(states)
    first = ann.hidden[0]
    if isinstance(first, Conv2d):   # per input channel (the quantiser scales per channel)
        absmax = absmax.reshape(len(states), first.in_shape[0], -1).max(axis=(0, 2))
    else:
        absmax = absmax.max(axis=0)
    absmax = absmax.astype(np.float64)
    info = {"env_id": env_id, "episodes": episodes, "seed": seed, "method": method,
            "states": int(len(states)), "obs_absmax": absmax.round(6).tolist()}
    if method == "percentile":
        info["percentile"] = percentile
    return Calibration(thresholds, info)
