"""Batched emulator of a SpikingGraph: B independent rows (e.g. episodes x alphas), in the
float or the fixed-point profile, bit-exact with the Lava process models.

Per decision (one env step), for the (B, obs_dim) observation batch:
    every hidden layer starts from neurons.decision_start (v[0] from the membrane policy);
    layer 0's synaptic input is dense(encoded obs) at every internal step (rate coding) or
    at step 1 only (differential coding);
    for t = 1..T: layer l runs neurons.layer_step on its synaptic input (l > 0:
    dense_l(codes_{l-1}[t])), and the readout runs neurons.readout_step on
    dense_r(codes_last[t]);  action = codec.decode(accumulator).
    Layers are feed-forward, so the emulator runs layer 0 for all T steps (in blocks of steps
    where one layer's codes would exceed CODES_BLOCK_BYTES), then layer 1 on dense_1 of
    layer 0's (T, B, n) codes as one (T*B, n) product, and so on: fewer and
    larger BLAS calls for the same sums (exact in fixed point; in float a larger product's
    BLAS kernel may round the last bit differently, about 1e-15 of an action in float64).
dense(x) is W_eff @ x in float (W_eff = W * unit of the previous layer); in fixed point it is
Lava's Dense: dense_shift(W_int @ x, exp), summed over the layer's Dense parts where its
weights are split (high and low byte, compiler.ir.FixedLayer.dense_parts). A Conv2d layer's
input is conv(x, kernel_eff), as Lava's Conv computes it; in fixed point its weight exponent
(in [-6, 0]) is applied by the neuron, a_in << (6 + exp) (neurons.FixedArithmetic.activation).
Row b's membrane policy uses alpha[b]; vanilla rows simply have alpha 0.
Fixed point is exact integer arithmetic, held in integer-valued float64 arrays for BLAS speed
(bit-exact with Lava's int64 fixed_pt models at any batch size); float sums depend on
summation order (see Emulator's sum_order).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from loihi_deploy.compiler.ir import Conv2d, SpikingGraph, TrainedSpikingGraph, per_channel
from loihi_deploy.sim_backend import codec, neurons


@dataclasses.dataclass
class _Synapses:
    weight_t: np.ndarray     # (in, out), float64 (integer-valued in the fixed profile)
    exp: int | None          # weight exponent (fixed profile) or None (float)
    graded: bool             # input is a graded payload (layer 0) rather than 1-bit spikes
    sum_order: str = "blas"  # float only: "blas" (batched, fast) | "lava" (Lava's Dense order)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.exp is None and self.sum_order == "lava":
            return self._lava_float_order(x)
        # fixed profile: exact integer sums (float64 < 2**53; float32 only where every
        # possible sum is < 2**24, see _fixed_synapses)
        acc = x.astype(self.weight_t.dtype, copy=False) @ self.weight_t
        if self.exp is None:
            return acc
        return neurons.dense_shift(acc, self.exp)

    def _lava_float_order(self, x: np.ndarray) -> np.ndarray:
        """Row by row, the same numpy reductions as Lava's float Dense (bit-identical sums)."""
        w = self.weight_t.T
        if self.graded:
            return np.stack([w.dot(row) for row in x])
        return np.stack([w[:, row.astype(bool)].sum(axis=1) for row in x])


@dataclasses.dataclass
class _SplitSynapses:
    """Stock Dense processes feeding the same neurons (split weights): the sum of their
    outputs, each rounded by its own exponent as Lava's Dense rounds it."""
    parts: list[_Synapses]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return sum(part(x) for part in self.parts)


def _fixed_synapses(parts: list[tuple[np.ndarray, int]], graded: bool, max_code: int):
    """Fixed-point synapses of one layer from its Dense parts [(integer weights, exp)].
    Left shifts (exp >= 0) are exact to fold into the float64 weights, so parts with exp >= 0
    become one matrix; a right shift rounds its part's whole sum and stays separate."""
    left = [w.T.astype(np.float64) * 2.0 ** e for w, e in parts if e >= 0]
    products = ([(sum(left), 0)] if left else []) + \
        [(w.T.astype(np.float64), e) for w, e in parts if e < 0]
    synapses_ = []
    for weight_t, exp in products:
        # event codes |q| <= max_code: the largest possible |sum| is max_code * sum_j |w_ij|;
        # below 2**24 float32 is exact (not for layer 0's 16-bit observation payloads)
        if not graded and max_code * np.abs(weight_t).sum(axis=0).max() < 2 ** 24:
            weight_t = weight_t.astype(np.float32)
        synapses_.append(_Synapses(weight_t, exp, graded))
    return synapses_[0] if len(synapses_) == 1 else _SplitSynapses(synapses_)


@dataclasses.dataclass
class _ConvSynapses:
    """A Conv2d layer's synaptic input conv(x, kernel) (no exponent, as Lava's Conv).
    Fixed point runs in float32, exact: the quantiser bounds every sum below 2**23."""
    kernel: np.ndarray       # (C_out, C_in, kh, kw): float64 (float) or integer-valued float32
    conv: Conv2d

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.conv.apply(x.astype(self.kernel.dtype, copy=False), self.kernel) \
            .astype(np.float64)


def synapses(graph: SpikingGraph, profile: str, sum_order: str = "blas",
             dtype=np.float64) -> tuple[list, _Synapses]:
    """Per hidden layer and readout: the weights one input unit sees (events carry integer
    codes, so the previous layer's unit is folded into layer l's float weights; a
    convolution's input unit is per input channel). sum_order applies to Dense layers; dtype
    to the float profile's Dense weights (float32: the precision of the paper's torch code)."""
    if sum_order not in ("blas", "lava"):
        raise ValueError(f"sum_order must be 'blas' or 'lava', got {sum_order!r}")
    max_code = graph.neuron.max_code
    if profile == "fixed":
        fixed = graph.fixed
        hidden = [_ConvSynapses(q.weight.astype(np.float32), h.synapse)
                  if isinstance(h.synapse, Conv2d) else
                  _fixed_synapses(q.dense_parts, k == 0, max_code)
                  for k, (h, q) in enumerate(zip(graph.hidden, fixed.hidden))]
        return hidden, _fixed_synapses(fixed.readout_parts, False, max_code)
    graded = graph.neuron.payload_bits > 1   # Lava's Dense sums graded payloads with a dot
    hidden = []
    for k, h in enumerate(graph.hidden):
        syn = h.synapse
        unit = np.ones(syn.shape[1]) if k == 0 else graph.unit(k - 1)
        if isinstance(syn, Conv2d):
            per_in = per_channel(unit, syn.in_channel_of, f"hidden{k} input units")
            hidden.append(_ConvSynapses(syn.weight * per_in[None, :, None, None], syn))
        else:
            hidden.append(_Synapses((syn.weight * unit[None, :]).T.astype(dtype), None,
                                    k == 0 or graded, sum_order))
    readout = _Synapses((graph.readout.weight * graph.unit(len(graph.hidden) - 1)[None, :]).T
                        .astype(dtype), None, graded, sum_order)
    return hidden, readout


def neuron_constants(graph: SpikingGraph, profile: str,
                     dtype=np.int64) -> tuple[list, list, object]:
    """(thresholds, biases, arithmetic) per hidden layer, in the profile's units; fixed-point
    integers as `dtype` (int64 for Lava, integer-valued float64 in the emulator)."""
    if profile == "fixed":   # fixed vectors are per row (neuron or channel) -> per neuron
        return ([q.threshold_state[h.synapse.channel_of].astype(dtype)
                 for h, q in zip(graph.hidden, graph.fixed.hidden)],
                [q.bias_state[h.synapse.channel_of].astype(dtype)
                 for h, q in zip(graph.hidden, graph.fixed.hidden)], neurons.FIXED)
    return ([h.threshold for h in graph.hidden], [h.synapse.neuron_bias for h in graph.hidden],
            neurons.FLOAT)


def input_exponents(graph: SpikingGraph, profile: str) -> list[int]:
    """Per hidden layer, the synapse exponent the neuron applies to its input: a
    convolution's weight exponent in fixed point (Lava's Conv applies none), else 0."""
    if profile != "fixed":
        return [0] * len(graph.hidden)
    return [q.weight_exp if isinstance(h.synapse, Conv2d) else 0
            for h, q in zip(graph.hidden, graph.fixed.hidden)]


PRECISIONS = {"float64": np.float64, "float32": np.float32}
# one layer's event codes held at once (64 MB): bounds memory at large T x batch x width;
# the benchmarks' sizes fit one block
CODES_BLOCK_BYTES = 2 ** 26


class Emulator:
    """Controller (runtime.closed_loop protocol) running a SpikingGraph on B rows."""

    def __init__(self, graph: SpikingGraph, batch_size: int, alpha=None,
                 profile: str | None = None, sum_order: str = "blas",
                 precision: str = "float64"):
        """sum_order (float profile): "blas" batches the synaptic sums (fast); "lava" sums in
        the order of Lava's float Dense, so results are bit-identical to the Lava backend.
        precision (float profile): "float64" (default, the reference), or "float32" (the
        precision of the paper's torch code: about twice as fast, docs/performance.md)."""
        self.graph = graph
        self.profile = profile or graph.profile
        if self.profile == "fixed" and graph.fixed is None:
            raise ValueError("emulator: the graph has no fixed profile (compile with "
                             "--profile fixed, or run compiler.quantize.quantize)")
        if self.profile not in ("float", "fixed"):
            raise ValueError(f"emulator: profile must be 'float' or 'fixed', got {self.profile!r}")
        self.batch_size = int(batch_size)
        self.kind = graph.membrane.kind
        alpha = graph.membrane.alpha if alpha is None else alpha
        alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (self.batch_size,))
        if self.kind != "crpi" and np.any(alpha != 0):
            raise ValueError(f"per-row alpha given but the graph's membrane policy is "
                             f"{self.kind!r}; use a crpi graph (vanilla rows are alpha 0)")
        if precision not in PRECISIONS:
            raise ValueError(f"emulator: precision must be one of {list(PRECISIONS)}, got "
                             f"{precision!r}")
        if precision != "float64" and (self.profile == "fixed" or sum_order == "lava"):
            raise ValueError("emulator: float32 applies to the float profile with BLAS sums "
                             "(fixed point is exact integers; Lava's order is float64)")
        self.dtype = PRECISIONS[precision]
        self.synapses, self.readout = synapses(graph, self.profile, sum_order, self.dtype)
        self.thetas, self.biases, self.arith = neuron_constants(graph, self.profile, np.float64)
        self.thetas = [th.astype(self.dtype) for th in self.thetas]
        self.biases = [b.astype(self.dtype) for b in self.biases]
        self.input_exps = input_exponents(graph, self.profile)
        self.alpha = (neurons.FIXED.alpha_mantissa(alpha).astype(np.float64)
                      if self.profile == "fixed" else alpha.astype(self.dtype))[:, None]
        self.saturations = np.zeros(self.batch_size, dtype=np.int64)
        self.input_clips = np.zeros(self.batch_size, dtype=np.int64)
        self.v0: list[np.ndarray] = []
        self.clip = graph.membrane.clip
        self._last_codes: list = []      # per layer (k, B, n): the last block's event codes
        self._counts_before: list = []   # per layer (B, n): events in the decision's earlier blocks
        widest = max(th.size for th in self.thetas)
        self.block_steps = max(1, CODES_BLOCK_BYTES // (self.batch_size * widest *
                                                        np.dtype(self.dtype).itemsize))
        self.last_residuals: list[np.ndarray] = []      # (B, n) CRPI's dv, last decision:
        #                                                 max(v[T] - v[0], -emitted)
        self.reset()

    def reset(self) -> None:
        """Start of an episode: every layer's membrane at v_init; counters cleared."""
        self.v0 = [np.broadcast_to(neurons.initial_potential(th, self.graph.neuron, self.arith),
                                   (self.batch_size, th.size)).copy() for th in self.thetas]
        self.saturations[:] = 0
        self.input_clips[:] = 0

    def fixed_point_events(self) -> tuple[int, int]:
        """(24-bit saturation events, clipped input payload entries) since reset()."""
        return int(self.saturations.sum()), int(self.input_clips.sum())

    @property
    def last_event_counts(self) -> list[np.ndarray]:
        """Per hidden layer, events per neuron (B, n) in the last decision (float64)."""
        return [before + np.count_nonzero(codes, axis=0).astype(np.float64)
                for before, codes in zip(self._counts_before, self._last_codes)]

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.shape != (self.batch_size, self.graph.obs_dim):
            raise ValueError(f"emulator: expected observations of shape "
                             f"({self.batch_size}, {self.graph.obs_dim}), got {obs.shape}")
        x, clipped = codec.encode(self.graph, obs, self.profile)
        self.input_clips += clipped
        model, arith, coding = self.graph.neuron, self.arith, self.graph.neuron.coding
        fixed = self.profile == "fixed"   # float arithmetic never saturates
        steps, rows = self.graph.timesteps, self.batch_size
        first_input = self.synapses[0](x.astype(self.dtype, copy=False))
        later_input = first_input if coding == "rate" else np.zeros_like(first_input)
        states = [neurons.decision_start(v0, bias, model) for v0, bias in zip(self.v0, self.biases)]
        self._counts_before, self._last_codes = [0] * len(self.v0), [None] * len(self.v0)
        acc = np.zeros((rows, self.graph.act_dim), dtype=self.dtype)
        # Layer by layer over a block of steps (a layer's step t needs only the layer below's
        # step t), so the next layer's input for the block is one (k*B, n) product; a block
        # is all T steps unless one layer's codes would pass CODES_BLOCK_BYTES
        for first in range(1, steps + 1, self.block_steps):
            block = range(first, min(first + self.block_steps, steps + 1))
            syn_in = [first_input if t == 1 else later_input for t in block]
            for layer, (theta, bias) in enumerate(zip(self.thetas, self.biases)):
                if first > 1:     # the previous block's events, before its codes are dropped
                    self._counts_before[layer] += np.count_nonzero(self._last_codes[layer],
                                                                   axis=0)
                codes = np.empty((len(block), rows, theta.size), dtype=self.v0[layer].dtype)
                for i, t in enumerate(block):
                    states[layer], codes[i], saturated = neurons.layer_step(
                        states[layer], syn_in[i], t, theta, bias, model, arith,
                        self.input_exps[layer])
                    if fixed:
                        self.saturations += saturated
                self._last_codes[layer] = codes
                synapse = (self.synapses[layer + 1] if layer + 1 < len(self.thetas)
                           else self.readout)
                syn_in = synapse(codes.reshape(len(block) * rows, -1)).reshape(
                    len(block), rows, -1)
            for i, t in enumerate(block):
                acc, saturated = neurons.readout_step(acc, syn_in[i], t, coding, arith)
                if fixed:
                    self.saturations += saturated
        self.last_residuals = [np.maximum(state.v - v0, -state.emitted)
                               for v0, state in zip(self.v0, states)]
        self.v0 = [neurons.next_initial_potential(self.kind, v0, state.v, state.emitted, theta,
                                                  self.alpha, model, self.clip, arith)
                   for v0, state, theta in zip(self.v0, states, self.thetas)]
        return codec.decode(self.graph, acc, self.profile)


def trained_constants(graph: TrainedSpikingGraph, profile: str, dtype=np.int64):
    """(layer synapses, [AlifParams per layer], readout synapse, readout (bias, decay),
    arithmetic) of a trained SNN in the profile's units; fixed-point integers as `dtype`."""
    if profile == "fixed":
        fixed = graph.fixed
        syns = [_fixed_synapses(q.dense_parts, k == 0, 1)
                for k, q in enumerate(fixed.layers)]
        params = [neurons.AlifParams(*(np.asarray(a).astype(dtype) for a in (
            q.bias_state, *decay, q.threshold_state, step, jump)))
            for q, decay, step, jump in zip(fixed.layers, fixed.decays, fixed.threshold_step,
                                            fixed.adaptation_jump)]
        readout = _fixed_synapses(fixed.readout.dense_parts, False, 1)
        return (syns, params, readout, (fixed.readout.bias_state.astype(dtype),
                                        fixed.readout_decay.astype(dtype)), neurons.FIXED)
    syns = [_Synapses(layer.synapse.weight.T.copy(), None, k == 0)
            for k, layer in enumerate(graph.layers)]
    params = [neurons.AlifParams(layer.synapse.bias, layer.syn_decay, layer.mem_decay,
                                 layer.ada_decay, np.ones_like(layer.syn_decay),
                                 np.full_like(layer.syn_decay, layer.threshold_step),
                                 layer.adaptation_jump) for layer in graph.layers]
    r = graph.readout
    return syns, params, _Synapses(r.synapse.weight.T.copy(), None, False), \
        (r.synapse.bias, r.decay), neurons.FLOAT


class TrainedEmulator:
    """Controller (reset(); act(x) with x = (B, obs_dim) observation and target) running a
    TrainedSpikingGraph on B rows, float or fixed point, bit-exact with the Lava models.
    Per env step, for substep 1..substeps: layer 0 gets dense(payload), layer k > 0
    dense(spikes of layer k-1 at this substep), each runs neurons.alif_step; the readout runs
    neurons.leaky_readout_step on the last layer's spikes; action = decode(r)."""

    def __init__(self, graph: TrainedSpikingGraph, batch_size: int, profile: str | None = None):
        self.graph = graph
        self.profile = profile or graph.profile
        if self.profile == "fixed" and graph.fixed is None:
            raise ValueError("emulator: the trained SNN has no fixed profile (quantize_trained)")
        self.batch_size = int(batch_size)
        (self.synapses, self.params, self.readout, (self.readout_bias, self.readout_decay),
         self.arith) = trained_constants(graph, self.profile, np.float64)
        self.saturations = np.zeros(self.batch_size, dtype=np.int64)
        self.input_clips = np.zeros(self.batch_size, dtype=np.int64)
        self.spike_counts = [np.zeros((self.batch_size, p.bias.size)) for p in self.params]
        self.reset()

    def reset(self) -> None:
        """Episode start: every state at rest; counters cleared."""
        self.states = [neurons.alif_start(p, self.batch_size) for p in self.params]
        self.r = np.zeros((self.batch_size, self.graph.act_dim))
        self.saturations[:] = 0
        self.input_clips[:] = 0
        for counts in self.spike_counts:
            counts[:] = 0

    def fixed_point_events(self) -> tuple[int, int]:
        return int(self.saturations.sum()), int(self.input_clips.sum())

    def act(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.batch_size, self.graph.obs_dim):
            raise ValueError(f"emulator: expected inputs of shape ({self.batch_size}, "
                             f"{self.graph.obs_dim}) (the policy's controller inputs), got "
                             f"{x.shape}")
        payload, clipped = codec.encode(self.graph, x, self.profile)
        self.input_clips += clipped
        first_input = self.synapses[0](payload)
        for _ in range(self.graph.substeps):
            syn_in = first_input
            for k, params in enumerate(self.params):
                self.states[k], saturated = neurons.alif_step(self.states[k], syn_in, params,
                                                              self.arith)
                self.saturations += saturated
                spikes = self.states[k].s
                self.spike_counts[k] += spikes
                syn_in = self.synapses[k + 1](spikes) if k + 1 < len(self.params) else spikes
            self.r, saturated = neurons.leaky_readout_step(self.r, self.readout(syn_in),
                                                           self.readout_bias,
                                                           self.readout_decay, self.arith)
            self.saturations += saturated
        return codec.decode_trained(self.graph, self.r, self.profile)
