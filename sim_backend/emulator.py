"""Batched emulator of a SpikingGraph: B independent rows (e.g. episodes x alpha values).

Per decision (one env step), for the (B, obs_dim) observation batch:
    each hidden layer starts from its membrane policy's initial potential;
    for t = 1..T: layer 0 gets the constant current W0 obs + b0, layer l > 0 gets
    W_l (theta_{l-1} * s_{l-1}[t]) + b_l; every layer runs sim_backend.neurons.if_step;
    action = head(readout(theta_last * spikes_last / T)).
Row b's membrane policy uses alpha[b]; vanilla rows simply have alpha 0.
"""
from __future__ import annotations

import numpy as np

from compiler.ir import SpikingGraph
from sim_backend import neurons


class Emulator:
    """Controller (runtime.closed_loop protocol) running a SpikingGraph in float64."""

    def __init__(self, graph: SpikingGraph, batch_size: int, alpha=None,
                 dtype=np.float64):
        self.graph = graph
        self.batch_size = int(batch_size)
        kind = graph.membrane.kind
        alpha = graph.membrane.alpha if alpha is None else alpha
        alpha = np.broadcast_to(np.asarray(alpha, dtype=dtype), (self.batch_size,))
        if kind != "crpi" and np.any(alpha != 0):
            raise ValueError(f"per-row alpha given but the graph's membrane policy is {kind!r}; "
                             f"use a crpi graph (vanilla rows are alpha 0)")
        self.kind = kind
        self.alpha = alpha[:, None].copy()
        self.dtype = dtype
        self.thetas = [h.threshold.astype(dtype) for h in graph.hidden]
        # Spikes are booleans: fold the spike amplitude theta_{l-1} into the weight columns.
        self.weights = [graph.hidden[0].synapse.weight.T.astype(dtype)] + [
            (h.synapse.weight * prev.threshold[None, :]).T.astype(dtype)
            for prev, h in zip(graph.hidden[:-1], graph.hidden[1:])]
        self.biases = [h.synapse.bias.astype(dtype) for h in graph.hidden]
        self.readout_w = (graph.readout.weight * graph.hidden[-1].threshold[None, :]).T.astype(dtype)
        self.readout_b = graph.readout.bias.astype(dtype)
        self.v0 = None
        self.last_spike_counts = None
        self.reset()

    def reset(self) -> None:
        """Start of an episode: every layer's membrane at theta / 2."""
        self.v0 = [np.broadcast_to(neurons.initial_potential(th), (self.batch_size, th.size)).copy()
                   for th in self.thetas]

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=self.dtype)
        if obs.shape != (self.batch_size, self.graph.obs_dim):
            raise ValueError(f"emulator: expected observations of shape "
                             f"({self.batch_size}, {self.graph.obs_dim}), got {obs.shape}")
        T = self.graph.timesteps
        v = [v0.copy() for v0 in self.v0]
        counts = [np.zeros_like(v0) for v0 in self.v0]
        input_current = obs @ self.weights[0] + self.biases[0]
        for _ in range(T):
            current = input_current
            for layer, theta in enumerate(self.thetas):
                v[layer], spikes = neurons.if_step(v[layer], current, theta)
                counts[layer] += spikes
                if layer + 1 < len(self.thetas):
                    current = spikes.astype(self.dtype) @ self.weights[layer + 1] \
                        + self.biases[layer + 1]
        self.v0 = [neurons.next_initial_potential(self.kind, v0, v_end, n, theta, self.alpha)
                   for v0, v_end, n, theta in zip(self.v0, v, counts, self.thetas)]
        self.last_spike_counts = counts
        z = (counts[-1] / T) @ self.readout_w + self.readout_b
        return self.graph.head(z)
