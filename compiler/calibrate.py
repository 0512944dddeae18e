"""Calibration: per-neuron thresholds from the states a policy visits (docs/conversion.md).

The states come from closed-loop rollouts of the deterministic ANN, recorded by the runtime
(runtime.closed_loop.visited_states; loihi_deploy.api.calibrate_policy does both). Every
hidden ReLU output on every state is computed here. theta = per-neuron max (the paper's
default), a per-neuron percentile of all states, or (episode-max) a per-neuron percentile of
the episodes' maxima; convolutional layers get one theta per channel (over all its
positions). Neurons that never activate get theta = 0 (silent).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from loihi_deploy.compiler.ir import AnnGraph, Conv2d


@dataclasses.dataclass(frozen=True)
class Calibration:
    """thresholds[l]: (n_l,) per hidden layer; info: how they were obtained."""
    thresholds: tuple[np.ndarray, ...]
    info: dict


METHODS = ("max", "percentile", "episode-max")
DEFAULT_PERCENTILE = {"percentile": 99.99, "episode-max": 90.0}   # when percentile is None


def thresholds_from_states(ann: AnnGraph, states: np.ndarray, method: str = "max",
                           percentile: float | None = None, chunk: int = 256,
                           episode_lengths=None) -> tuple[np.ndarray, ...]:
    """Per-neuron max or percentile of each hidden layer's activations on `states` (run in
    chunks of `chunk` rows); episode-max: the `percentile`-th percentile over the episodes
    (consecutive runs of `episode_lengths` states) of each episode's per-neuron max;
    percentile None: the method's DEFAULT_PERCENTILE. A convolution's neurons share one
    threshold per channel: over every position of the channel. The percentile is numpy's (linear
    interpolation between the order statistics around (N - 1) q / 100), computed from the
    largest values only: the N - floor((N - 1) q / 100) that reach it, so memory stays that
    small (51 values per neuron for 99.9 over 50,000 states) however many states there are."""
    if method not in METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(METHODS)}, got "
                         f"{method!r}")
    percentile = DEFAULT_PERCENTILE.get(method, 100.0) if percentile is None else percentile
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    if method == "episode-max":
        lengths = np.asarray(episode_lengths if episode_lengths is not None else [], dtype=int)
        if len(lengths) == 0 or (lengths < 1).any() or lengths.sum() != len(states):
            raise ValueError(f"episode-max calibration needs the episodes' lengths (each >= 1, "
                             f"{len(states)} states in all), got {lengths.tolist()[:8]}")
        ends = np.cumsum(lengths)
        maxima = [thresholds_from_states(ann, states[end - n:end], "max", chunk=chunk)
                  for n, end in zip(lengths, ends)]          # per episode, per layer (n_l,)
        return tuple(np.percentile(np.stack(layer), percentile, axis=0)
                     for layer in zip(*maxima))
    largest: list = [None] * len(ann.hidden)      # per layer (channels, <= keep) largest
    position = [0.0] * len(ann.hidden)            # per layer (N - 1) q / 100
    keep = [1] * len(ann.hidden)                  # per layer N - floor(position)
    for start in range(0, len(states), chunk):
        activations: list[np.ndarray] = []
        ann.forward(np.asarray(states[start:start + chunk], dtype=np.float64), activations)
        for k, (layer, a) in enumerate(zip(ann.hidden, activations)):
            grouped = _by_channel(layer, a)              # (channels, samples)
            if start == 0:                               # N samples per channel in all
                samples = len(states) * (grouped.shape[1] // len(a))
                position[k] = percentile / 100 * (samples - 1) if method == "percentile" \
                    else samples - 1.0
                keep[k] = samples - int(np.floor(position[k]))
            if largest[k] is not None:
                grouped = np.concatenate([largest[k], grouped], axis=1)
            if keep[k] == 1:
                grouped = grouped.max(axis=1, keepdims=True)
            elif grouped.shape[1] > keep[k]:
                grouped = np.partition(grouped, grouped.shape[1] - keep[k], axis=1)[:, -keep[k]:]
            largest[k] = grouped
    thresholds = []
    for layer, top, at in zip(ann.hidden, largest, position):
        top = np.sort(top, axis=1)      # top[:, 0]: order statistic floor(at), top[:, 1]: next
        below, above = top[:, 0], top[:, min(1, top.shape[1] - 1)]
        fraction = at - np.floor(at)
        difference = above - below      # numpy's linear interpolation, its rounding too
        per_channel = below + difference * fraction if fraction < 0.5 else \
            above - difference * (1 - fraction)
        thresholds.append(np.asarray(per_channel, dtype=np.float64)[layer.channel_of])
    return tuple(thresholds)


def _by_channel(layer, activations: np.ndarray) -> np.ndarray:
    """(B, n) activations -> (channels, samples): a Dense neuron is its own channel; a
    Conv2d channel pools its B x H x W positions."""
    if isinstance(layer, Conv2d):
        c, h, w = layer.out_shape
        return activations.reshape(-1, c, h * w).transpose(1, 0, 2).reshape(c, -1)
    return activations.T


def calibrate(ann: AnnGraph, states: np.ndarray, method: str = "max",
              percentile: float | None = None, info: dict | None = None,
              episode_lengths=None) -> Calibration:
    """Thresholds from `states` (N, obs_dim) and the per-input absolute maxima the quantiser
    scales the observations by; `info` (where the states came from) is kept with them.
    episode_lengths: the states' split into episodes (needed by method episode-max)."""
    states = np.asarray(states)
    if states.ndim != 2 or len(states) == 0:
        raise ValueError(f"calibration needs a non-empty (N, obs_dim) array of states, got "
                         f"shape {states.shape}")
    with np.errstate(all="ignore"):     # overflow is reported below, naming the policy
        thresholds = thresholds_from_states(ann, states, method, percentile,
                                            episode_lengths=episode_lengths)
    if not all(np.all(np.isfinite(t)) for t in thresholds):
        raise ValueError(f"{ann.source.get('path', 'the policy')}: its activations on the "
                         f"calibration states overflow float64 (weights or input scaling out of "
                         f"range): no finite thresholds")
    if ann.input_clip is not None:   # what reaches layer 0 (AnnGraph.forward clips too)
        states = ann.input_clip(states)
    absmax = states if states.dtype.kind == "u" else np.abs(states)
    first = ann.hidden[0]
    if isinstance(first, Conv2d):   # per input channel (the quantiser scales per channel)
        absmax = absmax.reshape(len(states), first.in_shape[0], -1).max(axis=(0, 2))
    else:
        absmax = absmax.max(axis=0)
    absmax = absmax.astype(np.float64)
    info = {**(info or {}), "method": method, "states": int(len(states)),
            "obs_absmax": absmax.round(6).tolist()}
    if method in DEFAULT_PERCENTILE:
        info["percentile"] = DEFAULT_PERCENTILE[method] if percentile is None else percentile
    return Calibration(thresholds, info)


def calibration_rule(info: dict) -> str:
    """A calibration's info dict -> how its thresholds were chosen, in words."""
    method, episodes = info.get("method"), info.get("episodes", "?")
    if method == "episode-max":
        return f"per-neuron {info['percentile']:g}th percentile of the {episodes} episodes' maxima"
    if method == "percentile":
        return f"per-neuron {info['percentile']:g}th percentile of all states"
    return "per-neuron max"
