"""Neuron dynamics: the single definition every backend calls (emulator and Lava models).

All functions are elementwise over numpy arrays of any shape (e.g. (B, n) for a batch), so a
batch of rows can carry different alpha values (episodes x alphas in one batch).

IF neuron with soft reset (REFERENCE 1.1), one internal step t of a decision:
    m[t] = v[t-1] + I[t]          charge
    s[t] = m[t] > theta           fire (strictly greater)
    v[t] = m[t] - theta * s[t]    reset by subtraction; a spike carries amplitude theta

Membrane policy at the boundary between decision k and k+1 (REFERENCE 1.2), per neuron:
    vanilla:  v_{k+1}[0] = theta / 2
    CRPI:     dv = max(v_k[T] - v_k[0], -theta * n_k)        n_k = spikes in decision k
              v_{k+1}[0] = theta/2 + clip(alpha * dv, -theta/2, +theta/2)
    free:     v_{k+1}[0] = v_k[T]
CRPI with alpha = 0 is exactly vanilla. Every episode starts from theta / 2.
"""
from __future__ import annotations

import numpy as np


def if_step(v: np.ndarray, current: np.ndarray, theta: np.ndarray):
    """One internal step. Returns (v_next, spikes as bool)."""
    m = v + current
    spikes = m > theta
    return m - theta * spikes, spikes


def initial_potential(theta: np.ndarray) -> np.ndarray:
    """Membrane at the start of an episode (and of every decision, for vanilla): theta / 2."""
    return theta / 2


def crpi_initial_potential(v_start: np.ndarray, v_end: np.ndarray, spike_count: np.ndarray,
                           theta: np.ndarray, alpha) -> np.ndarray:
    """CRPI: next decision's v[0] from this decision's v[0], v[T] and spike count n."""
    dv = np.maximum(v_end - v_start, -theta * spike_count)
    half = theta / 2
    return half + np.clip(alpha * dv, -half, half)


def next_initial_potential(kind: str, v_start, v_end, spike_count, theta, alpha):
    """Dispatch on the membrane policy kind ('vanilla' | 'crpi' | 'free')."""
    if kind == "free":
        return v_end
    if kind == "vanilla":
        return np.broadcast_to(initial_potential(theta), v_end.shape).copy()
    return crpi_initial_potential(v_start, v_end, spike_count, theta, alpha)
