"""Neuron dynamics: the single definition every backend calls (emulator and Lava models).

All functions are elementwise over numpy arrays of any shape (e.g. (B, n) for a batch), so a
batch of rows can carry different alpha values (episodes x alphas in one batch). Each takes
an arithmetic profile: FLOAT (the paper's real-valued model) or FIXED (Loihi fixed point).
A neuron model (compiler.ir.NeuronModel) is a firing rule plus a coding (docs/conversion.md, docs/neuron_models.md).

`cuba` is Loihi's stock CUBA compartment with du = 4095 (no current memory) and dv = 0 (no
leak): IF with a HARD reset (v = 0 after a spike) and v starting at 0, the neuron lava-dl's
netx format carries (compiler.export_netx); its current wraps at 24 bits like Lava's LIF.

Every neuron emits at most one event per internal step t = 1..T of a decision: an integer
code q (IF {0, 1}; signed {-1, 0, 1}; MT {0, +-1, +-2, ..., +-2**(n-1)}) carrying the
amplitude q * unit, unit = theta / 2**(n-1) (theta for IF and signed). The next layer's
weights are multiplied by the unit, so only the code travels. `emitted` is the running total
of amplitude emitted in the current decision; negative events are gated on it so it never
goes negative.

One internal step of a layer (layer_step), with x the synaptic input (Dense output):
    rate coding:          m = v + (x + bias)
    differential coding:  m = v + x + e_in - e_out
    cuba:                 m = v + wrap24(x << 6) + bias   (Lava LIF's order, fixed point)
    fire:  IF, cuba q = [m > theta]                             (strictly greater)
           signed  q = +1 if m >= theta; -1 if m <= 0 and emitted >= theta
                   (the IF_with_neg rule of Huang et al.'s code, v starting at theta/2)
           MT      q = +2**(n-1-i) for the largest level lambda_i = theta/2**i with
                   m >= 0.75 lambda_i; else -2**(n-1-i) for the largest lambda_i with
                   m <= -0.75 lambda_i and emitted >= lambda_i
    v = m - q * unit (cuba: v = 0 where q = 1);  emitted += q * unit
    differential only (running means over the decision; e_in starts at the bias, e_out at 0):
           e_in += x / t;  e_out += q * unit / t
Rate coding feeds the observation as the same input at every step and decodes the mean over
T of the readout; differential coding sends the observation once (step 1, then zeros) and
decodes the running mean sum_t readout[t] / t (codec).

Membrane policy at the boundary between decision k and k+1, per neuron (v_init: theta/2 for
IF, signed and DC-on-IF; 0 for MT, DC-on-MT and cuba):
    vanilla:  v_{k+1}[0] = v_init
    CRPI:     dv = max(v_k[T] - v_k[0], -emitted_k)       (IF: emitted = theta * spikes)
              v_{k+1}[0] = v_init + clip(alpha * dv, -r, +r)
              r = clip * unit, clip from the membrane policy or the model's default (IF and
              signed: 0.5, the paper's theta/2; MT: 0.75, the smallest level's firing point)
    free:     v_{k+1}[0] = v_k[T]
CRPI with alpha = 0 is exactly vanilla. Every episode starts from v_init.

Fixed point: integers in state units (weight LSB / 64, 24-bit saturating); theta/2 is
theta >> 1, lambda_i = theta >> i, 0.75 x = (3 x) >> 2, a real factor f is (round(f * 256)
* x) >> 8, and x / t is (x * round(2**16 / t)) >> 16 (arithmetic shifts round toward -inf,
as hardware shifts do).
"""
from __future__ import annotations

import typing

import numpy as np

from loihi_deploy.compiler import quantize


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
    def fraction(factor: float, x):
        return factor * x

    @staticmethod
    def level(theta, i: int):
        return theta if i == 0 else theta / 2 ** i

    @staticmethod
    def three_quarters(x):
        return 0.75 * x

    @staticmethod
    def divide_by_step(x, t: int):
        return x / t

    @staticmethod
    def current(a_in, bias, input_exp: int = 0):
        return a_in + bias

    @staticmethod
    def activation(a_in, input_exp: int = 0):
        return a_in

    @staticmethod
    def decay(x, beta):
        return beta * x

    @staticmethod
    def wrap(x):
        return x, 0

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
    below that (24-bit state times a 17-bit reciprocal < 2**41).
    """
    name = "fixed"
    STATE_BITS = 24
    STATE_MAX = 2 ** (STATE_BITS - 1) - 1
    ACTIVATION_SHIFT = 6          # a_in (weight-LSB units) enters the state as a_in << 6
    ALPHA_FRAC_BITS = 8           # alpha (and clip factors) as an unsigned mantissa / 256
    RECIPROCAL_BITS = 16          # x / t as (x * round(2**16 / t)) >> 16

    @staticmethod
    def half(x):
        return shift_right(x, 1)

    @classmethod
    def scale(cls, alpha_mant, x):
        return shift_right(alpha_mant * x, cls.ALPHA_FRAC_BITS)

    @classmethod
    def fraction(cls, factor: float, x):
        return cls.scale(int(cls.alpha_mantissa(factor)), x)

    @staticmethod
    def level(theta, i: int):
        return shift_right(theta, i)

    @staticmethod
    def three_quarters(x):
        return shift_right(3 * x, 2)

    @classmethod
    def divide_by_step(cls, x, t: int):
        if np.issubdtype(x.dtype, np.integer):
            x = x.astype(np.int64)  # Lava delivers int32: widen before the multiply
        return shift_right(x * round(2 ** cls.RECIPROCAL_BITS / t), cls.RECIPROCAL_BITS)

    @classmethod
    def activation(cls, a_in, input_exp: int = 0):
        """a_in << (6 + input_exp) (state units), unbounded. input_exp in [-6, 0]: a synapse
        exponent applied at the neuron (convolutions: Lava's Conv applies none), exact."""
        if np.issubdtype(a_in.dtype, np.integer):
            a_in = a_in.astype(np.int64)  # Lava delivers int32: widen before the shift
        return a_in * 2 ** (cls.ACTIVATION_SHIFT + input_exp)

    @classmethod
    def current(cls, a_in, bias, input_exp: int = 0):
        # sat((a << (6 + input_exp)) + bias)
        return cls.saturate(cls.activation(a_in, input_exp) + bias)[0]

    DECAY_BITS = quantize.DECAY_BITS   # decay factors as mantissas (compiler.quantize)

    @classmethod
    def decay(cls, x, beta_mant):
        """x * beta_mant / 4096 rounded toward zero, as Lava's LIF decays u and v."""
        if np.issubdtype(np.asarray(x).dtype, np.integer):
            x = x.astype(np.int64)
        return np.sign(x) * shift_right(np.abs(x) * beta_mant, cls.DECAY_BITS)

    @classmethod
    def wrap(cls, x):
        """Lava LIF's 24-bit current wrap (lava/proc/lif/models.py, applied once: exact while
        |x| < 2**31), and the number of wrapped entries per row of the last axis."""
        limit = 2 ** (cls.STATE_BITS - 1)
        wrapped = np.where(x > limit, x - 2 * limit, x)
        wrapped = np.where(wrapped <= -limit, x + 2 * limit, wrapped)
        return wrapped, np.count_nonzero(wrapped != x, axis=-1)

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


class Model(typing.Protocol):
    """What the dynamics need from compiler.ir.NeuronModel."""
    rule: str            # "if" | "signed" | "mt" | "cuba"
    coding: str          # "rate" | "differential"
    n_levels: int        # MT levels n (1 for IF and signed)
    default_clip: float  # CRPI clip radius in units


class LayerState(typing.NamedTuple):
    """One layer's state within a decision; each field has the layer's shape, state units."""
    v: np.ndarray         # membrane
    emitted: np.ndarray   # amplitude emitted so far in this decision
    e_in: np.ndarray      # differential coding: running mean of the input (else unused, 0)
    e_out: np.ndarray     # differential coding: running mean of the output (else unused, 0)


def unit(theta, model: Model, arith=FLOAT):
    """Amplitude of code 1: theta / 2**(n-1) (theta for IF and signed)."""
    return arith.level(theta, model.n_levels - 1)


def initial_potential(theta, model: Model, arith=FLOAT):
    """v_init: theta/2 for IF and signed rules, 0 for MT and cuba."""
    return theta * 0 if model.rule in ("mt", "cuba") else arith.half(theta)


def decision_start(v0, bias, model: Model) -> LayerState:
    """State at internal step 0 of a decision: v = v0; e_in = bias (differential coding)."""
    zeros = v0 * 0
    e_in = zeros + bias if model.coding == "differential" else zeros
    return LayerState(v0.copy(), zeros, e_in, zeros.copy())


def fire(m, emitted, theta, model: Model, arith=FLOAT):
    """Event code (same dtype as m) for charged membrane m."""
    if model.rule in ("if", "cuba"):
        return (m > theta).astype(m.dtype)
    if model.rule == "signed":
        return (m >= theta).astype(m.dtype) - ((m <= 0) & (emitted >= theta) & (m < theta))
    code = m * 0
    # smallest level first, so the largest level whose condition holds is written last
    for i in range(model.n_levels - 1, -1, -1):
        lam = arith.level(theta, i)
        point = arith.three_quarters(lam)
        amplitude = 2 ** (model.n_levels - 1 - i)
        code = np.where(m >= point, amplitude, code)
    for i in range(model.n_levels - 1, -1, -1):
        lam = arith.level(theta, i)
        point = arith.three_quarters(lam)
        amplitude = 2 ** (model.n_levels - 1 - i)
        negative = (m <= -point) & (emitted >= lam) & (code <= 0)
        code = np.where(negative, -amplitude, code)
    return code


def layer_step(state: LayerState, x, t: int, theta, bias, model: Model, arith=FLOAT,
               input_exp: int = 0):
    """Internal step t (1-based) with synaptic input x (input_exp: fixed point only, see
    FixedArithmetic.activation). Returns (state, code, saturated)."""
    drive = None
    if model.coding == "differential":
        drive = arith.current(x, 0 * bias, input_exp)
        m, saturated = arith.saturate(state.v + drive + state.e_in - state.e_out)
    elif model.rule == "cuba":
        u, wrapped = arith.wrap(arith.activation(x, input_exp))
        m, saturated = arith.saturate(state.v + u + bias)
        saturated = saturated + wrapped
    else:
        m, saturated = arith.saturate(state.v + arith.current(x, bias, input_exp))
    code = fire(m, state.emitted, theta, model, arith)   # theta (n,) broadcasts over rows
    out = code * unit(theta, model, arith)
    v = m * (code == 0) if model.rule == "cuba" else m - out
    e_in, e_out = state.e_in, state.e_out
    if drive is not None:
        e_in = e_in + arith.divide_by_step(drive, t)
        e_out = e_out + arith.divide_by_step(out, t)
    return LayerState(v, state.emitted + out, e_in, e_out), code, saturated


def readout_step(acc, a_in, t: int, coding: str, arith=FLOAT):
    """Readout accumulator (readout-weight units, not shifted into state units) after step t:
    rate coding sums a_in (the decoder divides by T); differential coding keeps the running
    mean-weighted sum acc += a_in / t. Returns (acc, saturated)."""
    if coding == "differential":
        a_in = arith.divide_by_step(a_in, t)
    return arith.saturate(acc + a_in)


def clip_radius(theta, model: Model, clip: float | None, arith=FLOAT):
    """CRPI's clip radius r = clip * unit (clip None: the model's default)."""
    factor = model.default_clip if clip is None else clip
    return arith.fraction(factor, unit(theta, model, arith))


def crpi_initial_potential(v_start, v_end, emitted, theta, alpha, model: Model,
                           clip: float | None = None, arith=FLOAT):
    """CRPI: next decision's v[0] from this decision's v[0], v[T] and emitted amplitude.
    alpha is the real alpha (FLOAT) or its mantissa alpha_mant (FIXED)."""
    dv = np.maximum(v_end - v_start, -emitted)
    r = clip_radius(theta, model, clip, arith)
    return initial_potential(theta, model, arith) + np.clip(arith.scale(alpha, dv), -r, r)


def next_initial_potential(kind: str, v_start, v_end, emitted, theta, alpha, model: Model,
                           clip: float | None = None, arith=FLOAT):
    """Dispatch on the membrane policy kind ('vanilla' | 'crpi' | 'free')."""
    if kind == "free":
        return v_end.copy()
    if kind == "vanilla":
        return np.broadcast_to(initial_potential(theta, model, arith), v_end.shape).copy()
    return crpi_initial_potential(v_start, v_end, emitted, theta, alpha, model, clip, arith)


def dense_shift(accumulated: np.ndarray, weight_exp: int) -> np.ndarray:
    """Lava's fixed-point Dense output scaling: sum << exp, or arithmetic sum >> -exp."""
    if weight_exp > 0:
        return accumulated * 2 ** weight_exp
    return shift_right(accumulated, -weight_exp) if weight_exp < 0 else accumulated


# -- Adaptive current-based LIF (directly trained SNNs, loihi_deploy.training.snn) ------------------------
#
# The deployed form of loihi_deploy.training.snn.layers.ALIFLayer, one substep, per neuron, with the
# membrane gain (1 - beta_mem) folded into the synaptic weights and bias (compiler pass
# frontend.from_trained_snn), so syn here is (1 - beta_mem) x the trained model's syn:
#     vth = b + a                                  threshold (a = xi * n, the adaptation)
#     syn = beta_syn * syn + I                     I = dense(input) + bias
#     mem = beta_mem * mem + syn - vth * s         s: the previous substep's spike
#     s   = [mem > vth]
#     b   = b_spike where s else b - b_step        b_spike = 1 - b_step (threshold units)
#     a   = beta_ada * a + a_jump * s              a_jump = xi * (1 - beta_ada)
# Float: threshold base 1; fixed point: state units with a per-neuron scale (compiler.quantize.
# quantize_trained), beta as 12-bit mantissas (decays round toward zero, as Lava's LIF).
# Readout (non-spiking, leaky):  r = beta_out * r + I, read at the last substep.


class AlifState(typing.NamedTuple):
    syn: np.ndarray
    mem: np.ndarray
    b: np.ndarray       # threshold base
    a: np.ndarray       # threshold adaptation
    s: np.ndarray       # last spike (0 / 1)


class AlifParams(typing.NamedTuple):
    """Per-neuron constants of one layer in the profile's units (decays: beta, or FIXED's
    12-bit mantissas; everything else: threshold units, or fixed-point state units)."""
    bias: np.ndarray
    syn_decay: np.ndarray
    mem_decay: np.ndarray
    ada_decay: np.ndarray
    b_rest: np.ndarray      # threshold base at episode start (1, or its state units)
    b_step: np.ndarray
    a_jump: np.ndarray


def alif_start(params: AlifParams, batch: int) -> AlifState:
    """Episode start: currents, membranes, adaptation and spikes 0; threshold base b_rest."""
    zeros = np.zeros((batch, params.bias.size), dtype=np.asarray(params.bias).dtype)
    return AlifState(zeros, zeros.copy(), zeros + params.b_rest, zeros.copy(), zeros.copy())


def alif_step(state: AlifState, a_in, params: AlifParams, arith=FLOAT):
    """One substep with synaptic input a_in (fixed: weight-LSB units, entering as << 6).
    Returns (state, saturated entries per row)."""
    vth = state.b + state.a
    syn, sat_syn = arith.saturate(arith.decay(state.syn, params.syn_decay)
                                  + arith.current(a_in, params.bias))
    mem, sat_mem = arith.saturate(arith.decay(state.mem, params.mem_decay) + syn - vth * state.s)
    s = (mem > vth).astype(mem.dtype)
    b, sat_b = arith.saturate(np.where(s > 0, params.b_rest - params.b_step,
                                       state.b - params.b_step))
    a = arith.decay(state.a, params.ada_decay) + params.a_jump * s
    return AlifState(syn, mem, b, a, s), sat_syn + sat_mem + sat_b


def leaky_readout_step(r, a_in, bias, decay, arith=FLOAT):
    """r = beta_out * r + a_in (+ bias): the readout of a trained SNN. Returns (r, saturated)."""
    return arith.saturate(arith.decay(r, decay) + arith.current(a_in, bias))
