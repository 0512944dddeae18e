"""Quantisation pass: SpikingGraph -> the same graph with its Loihi fixed-point profile.

Units. A neuron's state (membrane v, current, threshold) is a 24-bit integer in units of
weight-LSB / 64, as in Loihi: a_in enters as a_in << 6, the threshold is vth_mant << 6, the
bias is bias_mant << bias_exp. A float current c of neuron i maps to c * scale[i] * 64.

Scales. For hidden layer l, W_eff are the weights one input unit sees (layer 0: W0 /
input_scale per payload unit; l > 0: W_l * unit_{l-1} per event code, unit = theta for IF and
SNM, theta / 2**(levels-1) for MT and DC):
  scale[i]   = min(vth_max / max(theta), 4095 * 2**7 / (64 |b_i|), 254 * 2**7 / max_j |W_eff_ij|)
               vth_max = 2**(23 - 6 - headroom_bits): thresholds keep `headroom_bits` bits
               below the 24-bit ceiling so the membrane can run above theta unsaturated.
               The first term is one scale per layer; a neuron gets a smaller one of its own
               only where its bias or weight row would not fit (IF dynamics and CRPI are linear
               in (v, theta, I), so per-neuron scales are exact in integer arithmetic).
               Scaling every neuron by its own theta was measured and rejected: small-theta
               neurons lose headroom and saturate (open-loop action RMSE 0.37 -> 0.89).
  weight_exp = the smallest exponent in [-8, 7] with every |W_eff_ij * scale[i]| / 2**exp
               <= 254; weights = even integers in [-256, 254] (Lava's mixed-sign truncation
               is then a no-op); bias = bias_mant (13-bit signed) << bias_exp (0..7);
  vth_mant   = round(theta_i * scale[i]).
Observations are graded payloads of input_bits (default 16), scaled per dimension so that
`input_margin` x the largest calibrated |observation_j| reaches the payload limit. This
normalises layer 0's weight columns by their input's range (as theta_{l-1} does for later
layers); one scale for all dimensions left the paper's HalfCheetah actor with a 17.2 weight
outlier (a small-range observation) that made the 8-bit step 0.135 for weights of ~0.2.
The readout keeps exponent 0 (exact integer sums) with a per-action scale; its bias, the 1/T
and the tanh head are applied on the host by the decoder.

Split weights (weight_bits 16, the default of this profile; docs/fixed_point.md). A Dense
layer's integer weights W (units of 2**e_low, even, |W| <= 254 * 2**7) are written as
W = high * 2**7 + low with high and low even 8-bit integers: two stock Dense processes with
exponents e_low + 7 and e_low into the same neurons, which add their outputs. The scales are
those of the 8-bit profile; the grid is 2**7 finer. e_low lies in [-8, 0] (both exponents in
Lava's [-8, 7]). Layer 0 also chooses its payload bits (_split_payload_bits): at e_low = -8,
16-bit payloads would leave its weights a few dozen levels. The readout's weights are split
with e_low = 0 at a per-action scale that keeps every decision's sum below the 24-bit
accumulator's limit. Convolutions keep 8 bits (Lava's Conv has no exponent: the neuron
applies one per layer), and so does the stock profile (netx carries one Dense per layer).

Stock profile (neuron `cuba`, what lava-dl netx files can carry, _stock_layers): integer
weights with exponent 0 and biases in weight-LSB units (bias exponent 6), ONE threshold V per
layer (a stock LIF process has a scalar vth, so neuron i gets scale V / theta_i), V = the
largest threshold every neuron's bias and weights fit, at most 2**16 (a hard reset discards
what is above threshold, so no headroom is kept). Thresholds below the layer's 10th percentile
are first raised to it (floor_thresholds; the returned graph carries them, so float and fixed
agree): a tiny theta would otherwise take a huge scale and wrap its current. Layer 0's per-dimension input scales are then set so
the largest weight of each input column is 254 (within the payload's range), and the
readout's scale so that T steps of readout input cannot wrap a 24-bit LIF current (netx's
readout integrator).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from loihi_deploy.compiler.ir import (LOW_WEIGHT_SHIFT, Conv2d, FixedLayer, FixedProfile,
                                      SpikingGraph, TrainedFixedProfile, TrainedSpikingGraph,
                                      parts_as_one, per_channel)

WEIGHT_MAX = 254          # largest even 8-bit mixed-sign weight
SPLIT_WEIGHT_MAX = WEIGHT_MAX * 2 ** LOW_WEIGHT_SHIFT   # largest split weight, low-byte units
WEIGHT_EXP_RANGE = (-8, 7)
BIAS_MANT_MAX, BIAS_EXP_MAX = 4095, 7
VTH_MANT_MAX = 2 ** 17 - 1
DECAY_BITS = 12           # a decay factor beta as the mantissa round(beta * 4096), as Lava's LIF


def decay_mantissa(beta) -> np.ndarray:
    """Decay factor(s) beta in [0, 1] -> integer mantissa(s) round(beta * 2**DECAY_BITS)."""
    return np.round(np.asarray(beta, dtype=np.float64) * 2 ** DECAY_BITS).astype(np.int64)


def _even(x: np.ndarray) -> np.ndarray:
    return (2 * np.round(x / 2)).astype(np.int64)


ACC_MAX = 2 ** 23 - 1      # Lava's Conv clamps its output to 24-bit signed
CONV_EXP_RANGE = (-6, 0)   # applied by the neuron as a_in << (6 + exp): exact


def split_weight(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Even integers |w| <= SPLIT_WEIGHT_MAX (units of the low exponent) -> (high, low), both
    even 8-bit integers, w = high * 2**LOW_WEIGHT_SHIFT + low (|low| <= 128)."""
    high = _even(weight / 2 ** LOW_WEIGHT_SHIFT)
    return high, weight - high * 2 ** LOW_WEIGHT_SHIFT


def _layer(w_eff: np.ndarray, b: np.ndarray, theta: np.ndarray, headroom_bits: int,
           conv_input_max: float | None = None, split: bool = False) -> FixedLayer:
    """Rows of w_eff (and b, theta) are neurons (Dense) or output channels (Conv2d kernel
    (C_out, C_in, kh, kw)). conv_input_max: a convolution's largest input in payload units;
    its exponent lies in CONV_EXP_RANGE (applied by the neuron: Lava's Conv applies none) and no
    sum may reach the 24-bit clamp of Conv's output, max_row sum|w_int| * x_max <= ACC_MAX:
    where it would, the exponent is raised (coarser weights), then the scale lowered.
    split (Dense only): the same scale, weights rounded on a grid 2**7 finer and split into a
    high and a low byte (two stock Dense processes, docs/fixed_point.md)."""
    conv = conv_input_max is not None
    if split and conv:
        raise ValueError("quantize: a convolution's weights cannot be split (Lava's Conv has no "
                         "exponent: the neuron applies one per layer)")
    rows = w_eff.reshape(w_eff.shape[0], -1)
    vth_max = min(VTH_MANT_MAX, 2 ** (23 - 6 - headroom_bits))
    row_peak = np.abs(rows).max(axis=1)
    exp_low, exp_high = CONV_EXP_RANGE if conv else WEIGHT_EXP_RANGE
    with np.errstate(divide="ignore"):
        scale = np.minimum.reduce([
            np.full(theta.shape, vth_max / theta.max() if theta.max() > 0 else np.inf),
            np.where(b != 0, BIAS_MANT_MAX * 2 ** BIAS_EXP_MAX / (64 * np.abs(b)), np.inf),
            np.where(row_peak > 0, WEIGHT_MAX * 2 ** exp_high / row_peak, np.inf)])
    scale = np.where(np.isfinite(scale), scale, 1.0)
    peak = np.abs(rows * scale[:, None]).max()
    if split:   # the low byte's exponent: WEIGHT_EXP_RANGE shifted down by LOW_WEIGHT_SHIFT
        low_exp = 0 if peak == 0 else int(np.clip(np.ceil(np.log2(peak / SPLIT_WEIGHT_MAX)),
                                                  exp_low, exp_high - LOW_WEIGHT_SHIFT))
        weight, low = split_weight(np.clip(_even(w_eff * scale[:, None] / 2.0 ** low_exp),
                                           -SPLIT_WEIGHT_MAX, SPLIT_WEIGHT_MAX))
        return _with_constants(weight, low_exp + LOW_WEIGHT_SHIFT, b, theta, scale, vth_max,
                               low)
    weight_exp = 0 if peak == 0 else int(np.clip(np.ceil(np.log2(peak / WEIGHT_MAX)),
                                                 exp_low, exp_high))
    while True:
        weight = np.clip(_even(w_eff * scale.reshape(-1, *[1] * (w_eff.ndim - 1))
                               / 2.0 ** weight_exp), -256, WEIGHT_MAX)
        worst = np.abs(weight).reshape(len(weight), -1).sum(axis=1).max() * (conv_input_max
                                                                             or 0)
        if worst <= ACC_MAX:
            break
        if weight_exp < exp_high:
            weight_exp += 1
        else:
            scale = scale * 0.95 * ACC_MAX / worst
    return _with_constants(weight, weight_exp, b, theta, scale, vth_max)


def _with_constants(weight: np.ndarray, weight_exp: int, b: np.ndarray, theta: np.ndarray,
                    scale: np.ndarray, vth_max: int, weight_low=None) -> FixedLayer:
    """The FixedLayer of quantised weights with its bias and thresholds at `scale`."""
    bias_state = b * scale * 64
    bias_peak = np.abs(bias_state).max()
    bias_exp = 0 if bias_peak <= BIAS_MANT_MAX else int(np.ceil(np.log2(bias_peak / BIAS_MANT_MAX)))
    bias_mant = np.clip(np.round(bias_state / 2.0 ** bias_exp), -BIAS_MANT_MAX,
                        BIAS_MANT_MAX).astype(np.int64)
    vth = np.clip(np.round(theta * scale), 0, vth_max).astype(np.int64)
    return FixedLayer(weight, weight_exp, bias_mant, bias_exp, vth, scale, weight_low)


def effective_weight(graph: SpikingGraph, k: int, input_scale: np.ndarray) -> np.ndarray:
    """Hidden layer k's weights as one input unit sees them (layer 0: per payload unit,
    w / input_scale; later: per event code, w * unit of layer k-1): (out, in) for Dense,
    the (C_out, C_in, kh, kw) kernel for Conv2d (input units are per input channel)."""
    syn = graph.hidden[k].synapse
    per_input = 1.0 / input_scale if k == 0 else graph.unit(k - 1)
    if isinstance(syn, Conv2d):
        per_in_channel = per_channel(per_input, syn.in_channel_of, f"hidden{k} input units")
        return syn.weight * per_in_channel[None, :, None, None]
    return syn.weight * per_input[None, :]


def row_constants(graph: SpikingGraph, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(bias, theta) of hidden layer k per row of its fixed weights: per neuron (Dense) or
    per output channel (Conv2d)."""
    layer = graph.hidden[k]
    if isinstance(layer.synapse, Conv2d):
        return layer.synapse.bias, per_channel(layer.threshold, layer.synapse.channel_of,
                                               f"hidden{k} thresholds")
    return layer.synapse.bias, layer.threshold


STOCK_VTH_MAX = 2 ** 16
STOCK_THETA_FLOOR_PERCENTILE = 10


def floor_thresholds(graph: SpikingGraph,
                     percentile: float = STOCK_THETA_FLOOR_PERCENTILE) -> SpikingGraph:
    """Stock profile: thresholds below the layer's `percentile`-th (of those > 0) are raised to
    it. One vth per layer means neuron i's scale is V / theta_i; a tiny theta_i would take a
    huge scale, crowd out every other neuron's weight resolution and wrap its current."""
    from loihi_deploy.compiler.ir import SpikingLayer
    hidden = []
    for layer in graph.hidden:
        theta = layer.threshold
        on = theta > 0
        floor = np.percentile(theta[on], percentile) if on.any() else 0.0
        hidden.append(SpikingLayer(layer.synapse, np.where(on, np.maximum(theta, floor), 0.0)))
    return graph.replace(hidden=tuple(hidden))


def _stock_layers(graph: SpikingGraph, absmax: np.ndarray, input_bits: int,
                  input_margin: float) -> tuple[list[FixedLayer], np.ndarray]:
    """(layers, input_scale) of the stock profile (see the module docstring)."""
    payload_max = 2 ** (input_bits - 1) - 1
    layers, input_scale, prev_unit = [], None, None
    for k, layer in enumerate(graph.hidden):
        w, b, theta = layer.synapse.weight, layer.synapse.bias, layer.threshold
        on = theta > 0
        with np.errstate(divide="ignore"):
            limit = np.where(b != 0, BIAS_MANT_MAX / np.abs(b), np.inf)
            if k > 0:
                row_peak = np.abs(w * prev_unit[None, :]).max(axis=1)
                limit = np.minimum(limit, np.where(row_peak > 0, WEIGHT_MAX / row_peak, np.inf))
        fits = (limit * theta)[on]
        v_common = np.floor(min(STOCK_VTH_MAX, fits.min() if fits.size else STOCK_VTH_MAX))
        v_common = max(v_common, 1.0)
        scale = v_common / np.where(on, theta, theta.max() if on.any() else 1.0)
        if k == 0:   # per-dimension payload scales: each input column's largest weight -> 254
            column_peak = np.abs(w * scale[:, None]).max(axis=0)
            ceiling = payload_max / (input_margin * np.where(absmax > 0, absmax, 1.0))
            input_scale = np.minimum(np.where(column_peak > 0, column_peak / WEIGHT_MAX,
                                              ceiling), ceiling)
            w_eff = w / input_scale[None, :]
        else:
            w_eff = w * prev_unit[None, :]
        weight = np.clip(_even(w_eff * scale[:, None]), -256, WEIGHT_MAX)
        bias_mant = np.clip(np.round(b * scale), -BIAS_MANT_MAX, BIAS_MANT_MAX).astype(np.int64)
        layers.append(FixedLayer(weight, 0, bias_mant, 6,
                                 np.full(theta.shape, int(v_common)), scale))
        prev_unit = graph.unit(k)
    return layers, input_scale


def per_channel_max(values: np.ndarray, channel_of: np.ndarray) -> np.ndarray:
    """(n,) -> (n,): each entry replaced by the max over its channel."""
    out = np.zeros(channel_of.max() + 1)
    np.maximum.at(out, channel_of, values)
    return out[channel_of]


MIN_SPLIT_PAYLOAD_BITS = 8


def _split_payload_bits(graph: SpikingGraph, ranges: np.ndarray, input_bits: int,
                        headroom_bits: int) -> int:
    """Split weights, Dense layer 0: the payload bits b in [8, input_bits] that balance the two
    roundings of layer 0's input. One bit fewer halves the payload's levels and doubles layer
    0's weights per payload unit (w / input_scale), which then take twice the levels of their
    grid (at the lowest exponent, -8, 16-bit payloads leave them a few dozen). b minimises the
    larger relative step, max(1 / payload_max, 2 / largest |integer weight|)."""
    return _balanced_payload_bits(
        lambda payload_max: _layer(effective_weight(graph, 0, payload_max / ranges),
                                   *row_constants(graph, 0), headroom_bits, split=True),
        input_bits)


def _balanced_payload_bits(layer_at, input_bits: int) -> int:
    """The payload bits b in [MIN_SPLIT_PAYLOAD_BITS, input_bits] minimising
    max(1 / payload_max, 2 / largest |integer weight|) of layer 0 quantised with split
    weights at payload_max = 2**(b-1) - 1 (layer_at(payload_max) -> FixedLayer)."""
    best = None
    for bits in range(input_bits, min(input_bits, MIN_SPLIT_PAYLOAD_BITS) - 1, -1):
        payload_max = 2 ** (bits - 1) - 1
        peak = np.abs(parts_as_one(layer_at(payload_max).dense_parts)[0]).max()
        step = max(1 / payload_max, 2 / peak if peak > 0 else 0)
        if best is None or step < best[0]:
            best = (step, bits)
    return best[1]


def quantize(graph: SpikingGraph, obs_absmax: np.ndarray | float, input_bits: int = 16,
             input_margin: float = 2.0, headroom_bits: int = 4,
             integer_input_max: int | None = None,
             weight_bits: int | None = None) -> SpikingGraph:
    """The graph with its fixed profile. obs_absmax: largest |observation| seen in calibration
    (scalar, per dimension, or per input channel of a convolutional first layer).
    integer_input_max: observations are integers in [0, max] (pixels: 255); they travel as
    they are (input_scale 1, bit_length(max) + 1 payload bits) instead of rescaled.
    weight_bits: 16 splits every Dense layer's and the readout's weights across two stock
    8-bit Dense processes (high and low byte; convolutions keep 8 bits), 8 keeps one;
    None: 16, except for the stock profile (netx carries one Dense per layer)."""
    first = graph.hidden[0].synapse
    absmax = np.asarray(obs_absmax, dtype=np.float64)
    if isinstance(first, Conv2d) and absmax.size == first.in_shape[0]:
        absmax = absmax[first.in_channel_of]           # per input channel -> per entry
    absmax = np.broadcast_to(absmax, (graph.obs_dim,))
    if not np.all(np.isfinite(absmax)) or np.any(absmax < 0):
        raise ValueError(f"quantize: observation ranges must be finite and >= 0, got {absmax}")
    if integer_input_max is not None:   # integer observations (pixels) travel unscaled
        input_bits = int(integer_input_max).bit_length() + 1
    if not 2 <= input_bits <= 24:
        raise ValueError(f"quantize: input_bits must lie in [2, 24], got {input_bits}")
    payload_max = 2 ** (input_bits - 1) - 1
    stock = graph.neuron.kind == "cuba"
    if weight_bits is None:
        weight_bits = 8 if stock else 16
    if weight_bits not in (8, 16):
        raise ValueError(f"quantize: weight_bits must be 8 or 16, got {weight_bits}")
    if stock and weight_bits != 8:
        raise ValueError("quantize: the stock profile (neuron cuba, lava-dl netx) has one 8-bit "
                         "Dense per layer; use weight_bits 8")
    split = weight_bits == 16
    convs = [k for k, h in enumerate(graph.hidden) if isinstance(h.synapse, Conv2d)]
    if stock and convs:
        raise ValueError("quantize: the stock profile (neuron cuba, lava-dl netx) takes dense "
                         "layers only; this graph has convolutions")
    if stock:
        graph = floor_thresholds(graph)
        layers, input_scale = _stock_layers(graph, absmax, input_bits, input_margin)
    else:
        if integer_input_max is not None:
            input_scale = np.ones(graph.obs_dim)
        else:  # a dimension that never moved in calibration gets the scale of a unit range
            ranges = np.where(absmax > 0, absmax, 1.0)
            if isinstance(first, Conv2d):   # a shared kernel needs one scale per channel
                ranges = per_channel_max(ranges, first.in_channel_of)
            if split and not convs:
                input_bits = _split_payload_bits(graph, input_margin * ranges, input_bits,
                                                 headroom_bits)
                payload_max = 2 ** (input_bits - 1) - 1
            input_scale = payload_max / (input_margin * ranges)
        layers = []
        for k in range(len(graph.hidden)):
            conv_input_max = None
            if k in convs:
                conv_input_max = payload_max if k == 0 else graph.neuron.max_code
            layers.append(_layer(effective_weight(graph, k, input_scale),
                                 *row_constants(graph, k), headroom_bits, conv_input_max,
                                 split and k not in convs))
    readout_eff = graph.readout.weight * graph.unit(len(graph.hidden) - 1)[None, :]
    peak_r = np.abs(readout_eff).max(axis=1)
    readout_scale = np.where(peak_r > 0, WEIGHT_MAX / np.where(peak_r > 0, peak_r, 1), 1.0)
    if stock:  # a netx readout is a LIF current u = sum (a << 6), wrapping at 24 bits
        row_sum = np.abs(readout_eff).sum(axis=1) * graph.timesteps * 64
        readout_scale = np.minimum(readout_scale, np.where(
            row_sum > 0, 0.9 * 2 ** 23 / np.where(row_sum > 0, row_sum, 1), np.inf))
    if split:   # low byte exponent 0, and no decision's sum can saturate the accumulator
        row_sum = np.abs(readout_eff).sum(axis=1) * graph.timesteps * graph.neuron.max_code
        readout_scale = np.where(peak_r > 0, np.minimum(
            SPLIT_WEIGHT_MAX / np.where(peak_r > 0, peak_r, 1),
            ACC_MAX / np.where(row_sum > 0, row_sum, 1)), 1.0)
        high, low = split_weight(np.clip(_even(readout_eff * readout_scale[:, None]),
                                         -SPLIT_WEIGHT_MAX, SPLIT_WEIGHT_MAX))
        fixed = FixedProfile(input_scale, input_bits, tuple(layers), high, LOW_WEIGHT_SHIFT,
                             readout_scale, headroom_bits, low)
        return graph.replace(fixed=fixed)
    readout_weight = np.clip(_even(readout_eff * readout_scale[:, None]), -256, WEIGHT_MAX)
    fixed = FixedProfile(input_scale, input_bits, tuple(layers), readout_weight, 0,
                         readout_scale, headroom_bits)
    return graph.replace(fixed=fixed)


def quantize_trained(graph: TrainedSpikingGraph, obs_absmax: np.ndarray | float,
                     input_bits: int = 16, input_margin: float = 2.0,
                     headroom_bits: int = 6, weight_bits: int = 16) -> TrainedSpikingGraph:
    """The trained SNN with its fixed profile. Every layer (and the readout) is quantised as a
    hidden layer above (_layer) with threshold 1: per-neuron scale, one exponent, weights of
    weight_bits: 16 = split across two stock Dense processes (high and low byte, as the
    converted layers' default), 8 = one Dense; the threshold base at rest is vth_mant << 6 and
    the state carries 64 * scale units per float unit, which also sets threshold_step and
    adaptation_jump. Decays become 12-bit mantissas. ALIF dynamics are linear in (syn, mem, b,
    a) and the spike test is a comparison, so a per-neuron scale changes nothing but rounding.
    Observations travel as graded payloads of at most input_bits, fewer where layer 0's
    weights need it."""
    if weight_bits not in (8, 16):
        raise ValueError(f"quantize_trained: weight_bits must be 8 or 16, got {weight_bits}")
    split = weight_bits == 16
    absmax = np.broadcast_to(np.asarray(obs_absmax, dtype=np.float64), (graph.obs_dim,))
    if not np.all(np.isfinite(absmax)) or np.any(absmax < 0):
        raise ValueError(f"quantize_trained: input ranges must be finite and >= 0, got {absmax}")
    ranges = input_margin * np.where(absmax > 0, absmax, 1.0)
    first = graph.layers[0].synapse

    def first_layer_at(payload_max: int) -> FixedLayer:
        return _layer(first.weight * ranges[None, :] / payload_max, first.bias,
                      np.ones(first.shape[0]), headroom_bits, split=split)
    if split:    # balance the payload's and the weights' rounding, as for converted layers
        input_bits = _balanced_payload_bits(first_layer_at, input_bits)
    else:        # fewer payload bits until layer 0's weights use the 8-bit range (>= 128):
        for bits in range(input_bits, 1, -1):   # at exponent -8, finer payloads would leave
            if np.abs(first_layer_at(2 ** (bits - 1) - 1).weight).max() >= WEIGHT_MAX // 2:
                break                           # the weights a few levels
        input_bits = bits
    input_scale = (2 ** (input_bits - 1) - 1) / ranges
    first_layer = first_layer_at(2 ** (input_bits - 1) - 1)
    fixed_layers, decays, steps, jumps = [], [], [], []
    for k, layer in enumerate(graph.layers):
        q = first_layer if k == 0 else _layer(layer.synapse.weight, layer.synapse.bias,
                                              np.ones(layer.synapse.shape[0]), headroom_bits,
                                              split=split)
        state_scale = 64 * q.scale
        fixed_layers.append(q)
        decays.append(tuple(decay_mantissa(d) for d in
                            (layer.syn_decay, layer.mem_decay, layer.ada_decay)))
        steps.append(np.round(layer.threshold_step * state_scale).astype(np.int64))
        jumps.append(np.round(layer.adaptation_jump * state_scale).astype(np.int64))
    readout = _layer(graph.readout.synapse.weight, graph.readout.synapse.bias,
                     np.ones(graph.act_dim), headroom_bits, split=split)
    checked = [(f"layer {k}", q, layer.synapse.weight)
               for k, (q, layer) in enumerate(zip(fixed_layers, graph.layers))]
    for name, q, weight in checked + [("readout", readout, graph.readout.synapse.weight)]:
        lost = np.flatnonzero(q.vth_mant == 0)
        if lost.size:   # its scale set by one huge weight: the rest of its row rounds to 0
            j = int(lost[0])
            raise ValueError(
                f"{name} neuron {j}: its largest weight, {np.abs(weight[j]).max():.3g}, is "
                f"too large against its threshold (1) for fixed point: at the scale it needs, "
                f"its threshold rounds to 0 and its other weights to 0, so the chip would "
                f"not compute this network (the float profile can run it)")
    fixed = TrainedFixedProfile(input_scale, input_bits, tuple(fixed_layers), tuple(decays),
                                tuple(steps), tuple(jumps), readout,
                                decay_mantissa(graph.readout.decay), headroom_bits)
    return graph.replace(fixed=fixed)


@dataclasses.dataclass
class LayerError:
    name: str
    weight_exp: int
    vth_mant_min: int          # smallest threshold mantissa among neurons with theta > 0
    weight_rel_rms: float      # ||W_q - W|| / ||W||, W_q = dequantised effective weights
    bias_max_abs: float        # in float current units
    threshold_rel_max: float   # max |theta_q - theta| / theta over neurons with theta > 0


def quantization_report(graph: SpikingGraph) -> list[LayerError]:
    """Per-layer quantisation error of the fixed profile against the float graph."""
    fixed = graph.fixed
    if fixed is None:
        raise ValueError("graph has no fixed profile; run compiler.quantize.quantize first")
    rows = []
    for i, q in enumerate(fixed.hidden):
        w_eff = effective_weight(graph, i, fixed.input_scale)
        shape = (-1, *[1] * (w_eff.ndim - 1))
        weight, low_exp = parts_as_one(q.dense_parts)
        w_q = weight * 2.0 ** low_exp / q.scale.reshape(shape)
        bias, theta = row_constants(graph, i)
        b_q = q.bias_state / 64 / q.scale
        th_q = q.vth_mant / q.scale
        on = theta > 0
        rows.append(LayerError(
            f"hidden{i}", q.weight_exp, int(q.vth_mant[on].min()) if on.any() else 0,
            float(np.linalg.norm(w_q - w_eff) / max(np.linalg.norm(w_eff), 1e-30)),
            float(np.abs(b_q - bias).max()),
            float((np.abs(th_q - theta)[on] / theta[on]).max()) if on.any() else 0.0))
    prev_unit = graph.unit(len(graph.hidden) - 1)
    r_eff = graph.readout.weight * prev_unit[None, :]
    weight, low_exp = parts_as_one(fixed.readout_parts)
    r_q = weight * 2.0 ** low_exp / fixed.readout_scale[:, None]
    rows.append(LayerError("readout", fixed.readout_exp, 0,
                           float(np.linalg.norm(r_q - r_eff) / max(np.linalg.norm(r_eff), 1e-30)),
                           0.0, 0.0))
    return rows


def format_report(rows: list[LayerError]) -> str:
    lines = [f"{'layer':<9}{'w_exp':>6}{'min vth':>9}{'weight rel RMS':>16}{'bias max err':>14}"
             f"{'theta rel err':>15}"]
    for r in rows:
        lines.append(f"{r.name:<9}{r.weight_exp:>6}{r.vth_mant_min:>9}{r.weight_rel_rms:>16.3%}"
                     f"{r.bias_max_abs:>14.2e}{r.threshold_rel_max:>15.2e}")
    return "\n".join(lines)
