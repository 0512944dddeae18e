"""Encoder and decoder shared by every backend: observation -> layer-0 input, readout -> action.

float profile:  input = the observation itself (through W0 at every step for rate coding, at
                step 1 only for differential coding);
                z = acc / T + readout.bias, acc = sum over T of W_r_eff @ codes (rate), or
                z = acc + readout.bias, acc = sum over t of W_r_eff @ codes[t] / t
                (differential: the running mean).
fixed profile:  input = graded payload clip(round(obs * input_scale), +-(2**(bits-1) - 1));
                z = acc / (readout_scale * T) + readout.bias (rate), or
                z = acc / readout_scale + readout.bias (differential).
action = offset + scale * tanh(z) (ActionHead), computed on the host.
"""
from __future__ import annotations

import numpy as np

from loihi_deploy.compiler.ir import SpikingGraph, TrainedSpikingGraph


def encode(graph: SpikingGraph | TrainedSpikingGraph, obs: np.ndarray, profile: str):
    """(B, obs_dim) observations -> (layer-0 input, clipped entries per row). The one encoder
    of every graph and backend (a trained SNN's input is observation then target). A graph's
    input clip (compiler.ir.InputClip) applies first."""
    clip = getattr(graph, "input_clip", None)
    if clip is not None:
        obs = clip(np.asarray(obs, dtype=np.float64))
    if profile == "float":
        return np.asarray(obs, dtype=np.float64), np.zeros(len(obs), dtype=np.int64)
    fixed = graph.fixed
    limit = 2 ** (fixed.input_bits - 1) - 1
    payload = np.round(np.asarray(obs, dtype=np.float64) * fixed.input_scale)
    clipped = np.count_nonzero(np.abs(payload) > limit, axis=-1)
    return np.clip(payload, -limit, limit).astype(np.int64), clipped


def decode(graph: SpikingGraph, acc: np.ndarray, profile: str) -> np.ndarray:
    """(B, act_dim) readout accumulator after T steps -> actions in env units."""
    T = 1 if graph.neuron.coding == "differential" else graph.timesteps
    if profile == "float":
        z = acc / T + graph.readout.bias
    else:
        z = acc / (graph.fixed.readout_scale * T) + graph.readout.bias
    return graph.head(z)


def decode_trained(graph: TrainedSpikingGraph, r: np.ndarray, profile: str) -> np.ndarray:
    """A trained SNN's readout at the last substep (B, act_dim) -> action tanh(r) (fixed
    point: r / (64 readout scale))."""
    if profile == "fixed":
        r = r / (64 * graph.fixed.readout.scale)
    return np.tanh(r)
