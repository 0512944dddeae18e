"""Neuron dynamics: the single definition every backend calls (emulator and Lava models).

All functions are elementwise over numpy arrays of any shape (e.g. (B, n) for a batch), so a
batch of rows can carry different alpha values (episodes x alphas in one batch). Each takes
an arithmetic profile: FLOAT (the paper's real-valued model) or FIXED (Loihi fixed point).

IF neuron with soft reset (REFERENCE 1.1), one internal step t of a decision:
    I[t] = a_in[t] + bias         float;   fixed: sat24((a_in << 6) + bias)
    m[t] = v[t-1] + I[t]          charge   (fixed: saturated to 24 bits, never wrapped)
    s[t] = m[t] > theta           fire (strictly greater)
    v[t] = m[t] - theta * s[t]    reset by subtraction; a spike carries amplitude theta

Membrane policy at the boundary between decision k and k+1 (REFERENCE 1.2), per neuron:
    vanilla:  v_{k+1}[0] = theta / 2
    CRPI:     dv = max(v_k[T] - v_k[0], -theta * n_k)        n_k = spikes in decision k
              v_{k+1}[0] = theta/2 + clip(alpha * dv, -theta/2, +theta/2)
    free:     v_{k+1}[0] = v_k[T]
CRPI with alpha = 0 is exactly vanilla. Every episode starts from theta / 2.
Fixed point: theta/2 is theta >> 1 and alpha * dv is (alpha_mant * dv) >> 8 with
alpha_mant = round(alpha * 256) (arithmetic shifts round toward -inf, as hardware shifts do).
"""
from __future__ import annotations

import numpy as np


class FloatArithmetic:
    """Real-valued profile (float64 or float32 arrays)."""
    name = "float"

    @staticmethod
    def half(x):
        return x / 2

    @staticmethod
    def scale(alpha, x):
        return alpha * x

    @staticmethod
    def current(a_in, bias):
        return a_in + bias

    @staticmethod
    def saturate(x):
        return x, 0


def shift_right(x, bits: int):
    """Arithmetic x >> bits (rounds toward -inf) for int arrays and integer-valued floats."""
    if np.issubdtype(np.asarray(x).dtype, np.integer):
        return x >> bits
    return np.floor(x * 2.0 ** -bits)   # exact: division by a power of two, then floor


class FixedArithmetic:
    """Loihi fixed point: integers (24-bit state in units of weight-LSB / 64).

    Works on int64 arrays (Lava models) and on integer-valued float64 arrays (the batched
    emulator, for BLAS speed) with identical results: every shift is a multiplication by a
    power of two or shift_right, exact in float64 below 2**53, and every value stays far
    below that (24-bit state, 32-bit accumulators).
    """
    name = "fixed"
    STATE_BITS = 24
    STATE_MAX = 2 ** (STATE_BITS - 1) - 1
    ACTIVATION_SHIFT = 6          # a_in (weight-LSB units) enters the state as a_in << 6
    ALPHA_FRAC_BITS = 8           # alpha as an unsigned mantissa / 256

    @staticmethod
    def half(x):
        return shift_right(x, 1)

    @classmethod
    def scale(cls, alpha_mant, x):
        return shift_right(alpha_mant * x, cls.ALPHA_FRAC_BITS)

    @classmethod
    def current(cls, a_in, bias):
        if np.issubdtype(a_in.dtype, np.integer):
            a_in = a_in.astype(np.int64)  # Lava delivers int32: widen before the shift
        return cls.saturate(a_in * 2 ** cls.ACTIVATION_SHIFT + bias)[0]   # (a << 6) + bias

    @classmethod
    def saturate(cls, x):
        """(x clipped to +-STATE_MAX, number of clipped entries per row of the last axis)."""
        if x.size == 0 or (x.max() <= cls.STATE_MAX and x.min() >= -cls.STATE_MAX):
            return x, 0  # the common case, checked with two reductions
        clipped = np.clip(x, -cls.STATE_MAX, cls.STATE_MAX)
        return clipped, np.count_nonzero(clipped != x, axis=-1)

    @classmethod
    def alpha_mantissa(cls, alpha):
        return np.round(np.asarray(alpha, dtype=np.float64) * 2 ** cls.ALPHA_FRAC_BITS).astype(
            np.int64)


FLOAT = FloatArithmetic()
FIXED = FixedArithmetic()


def if_step(v: np.ndarray, current: np.ndarray, theta: np.ndarray, arith=FLOAT):
    """One internal step. Returns (v_next, spikes as bool, saturated count per row)."""
    m, saturated = arith.saturate(v + current)
    spikes = m > theta
    return m - theta * spikes, spikes, saturated


def initial_potential(theta: np.ndarray, arith=FLOAT) -> np.ndarray:
    """Membrane at the start of an episode (and of every decision, for vanilla): theta / 2."""
    return arith.half(theta)


def crpi_initial_potential(v_start, v_end, spike_count, theta, alpha, arith=FLOAT):
    """CRPI: next decision's v[0] from this decision's v[0], v[T] and spike count n.
    alpha is the real alpha (FLOAT) or its mantissa alpha_mant (FIXED)."""
    dv = np.maximum(v_end - v_start, -theta * spike_count)
    half = arith.half(theta)
    return half + np.clip(arith.scale(alpha, dv), -half, half)


def next_initial_potential(kind: str, v_start, v_end, spike_count, theta, alpha, arith=FLOAT):
    """Dispatch on the membrane policy kind ('vanilla' | 'crpi' | 'free')."""
    if kind == "free":
        return v_end.copy()
    if kind == "vanilla":
        return np.broadcast_to(initial_potential(theta, arith), v_end.shape).copy()
    return crpi_initial_potential(v_start, v_end, spike_count, theta, alpha, arith)


def dense_shift(accumulated: np.ndarray, weight_exp: int) -> np.ndarray:
    """Lava's fixed-point Dense output scaling: sum << exp, or arithmetic sum >> -exp."""
    if weight_exp > 0:
        return accumulated * 2 ** weight_exp
    return shift_right(accumulated, -weight_exp) if weight_exp < 0 else accumulated
