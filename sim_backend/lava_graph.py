"""Emitter: SpikingGraph -> Lava processes (stock Dense synapses, loihi-deploy neuron layers
and readout, HostInput for the host's payload), for one numeric profile.

    host -> HostInput(obs_dim) -> Dense0 -> NeuronLayer0 -> Dense1 -> NeuronLayer1 ... -> DenseR
    -> Readout(act_dim) -> host
Both ends are external pipes (Lava's flag_external_pipe): the host sends one payload per
decision and receives the readout's sum once per decision, with no Injector or Extractor
process in between (every Lava process adds messages to every Lava step, and the graph runs
continuously: runtime.lava_bridge, docs/performance.md).
Fixed profile: the 8-bit weights and exponents of compiler.quantize; float: the emulator's
weights (sim_backend.emulator.synapses), so both backends compute the same numbers. Layer 0's
Dense takes graded payloads (num_message_bits > 0), and so does every later Dense when the
neuron model's events are signed or multi-level (NeuronModel.payload_bits > 1).
One decision = period = T + L Lava steps (L Dense layers); see sim_backend/lava_procs/process.py.

Convolutions become stock Lava Conv processes (no exponent: the neuron layer applies it, input_exp). Lava lays a convolution's
activations out as (X, Y, C) = (W, H, C) and convolves (it flips the kernel), while the IR uses
torch's (C, H, W) and cross-correlation. So at build time: each Conv gets the kernel
transposed to (C_out, W, H, C_in) and spatially flipped; every neuron vector of a layer after a
convolution (thresholds, biases, v0) and the columns of a Dense after one are permuted into
Lava's order (lava_order); the host permutes the observation before injecting it
(LavaNetwork.input_order). Nothing is computed differently.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np

from loihi_deploy.compiler.ir import Conv2d, SpikingGraph, TrainedSpikingGraph
from loihi_deploy.sim_backend import codec, neurons
from loihi_deploy.sim_backend.emulator import (input_exponents, neuron_constants, synapses,
                                               trained_constants)

FLOAT_PAYLOAD_BITS = 24  # layer-0 Dense in the float profile: graded (real-valued) payload


@dataclasses.dataclass
class LavaNetwork:
    graph: SpikingGraph | TrainedSpikingGraph
    profile: str
    period: int                 # Lava steps per decision
    host_input: object          # HostInput process (its host_in port: the host's pipe)
    layers: list                # NeuronLayer processes
    readout: object
    output: object              # the readout's OutPort, an external pipe to the host
    denses: list                # Dense / Conv synapse processes
    run_cfg: object
    encode: Callable            # (1, obs_dim) observation -> (payload, clipped entries)
    decode: Callable            # (1, act_dim) readout at the decision's last step -> action
    episode_start: list         # (Var, value) pairs that put the network back at rest
    input_order: np.ndarray | None = None   # observation entry order Lava expects (or None)

    @property
    def windowed(self) -> list:
        """The processes that act by decision phase (their phase_offset Vars)."""
        return [self.host_input, *self.layers, self.readout]


def lava_order(shape_chw: tuple[int, int, int]) -> np.ndarray:
    """Index array mapping a (C, H, W)-flat vector to Lava's (W, H, C)-flat order:
    lava_vector = chw_vector[lava_order(shape)]."""
    c, h, w = shape_chw
    return np.arange(c * h * w).reshape(c, h, w).transpose(2, 1, 0).reshape(-1)


def lava_kernel(kernel: np.ndarray) -> np.ndarray:
    """torch (C_out, C_in, kh, kw) cross-correlation kernel -> Lava Conv's (C_out, W, H, C_in)
    convolution kernel (Lava flips it back)."""
    return np.ascontiguousarray(kernel.transpose(0, 3, 2, 1)[:, ::-1, ::-1])


def lava_denses(parts: list, message_bits: int, name: str, source, target) -> list:
    """Stock Lava Dense processes from `source` into `target`, one per part: (float weights,
    None) or (8-bit integer weights, exponent); split weights have two parts (high and low
    byte) and `target` adds their outputs (a Lava InPort sums what its connected ports send)."""
    from lava.proc.dense.process import Dense
    denses = []
    for i, (w, exp) in enumerate(parts):
        kwargs = dict(weights=w.copy()) if exp is None else \
            dict(weights=w.astype(np.int32), weight_exp=exp)
        d = Dense(**kwargs, num_message_bits=message_bits, name=name if i == 0 else f"{name}_low")
        source.connect(d.s_in)
        d.a_out.connect(target)
        denses.append(d)
    return denses


def emit_lava(graph: SpikingGraph, profile: str | None = None,
              alpha: float | None = None) -> LavaNetwork:
    """Build (not run) the Lava processes of `graph`. Needs Lava (sim_backend.lava_support)."""
    from loihi_deploy.sim_backend.lava_support import require_lava
    require_lava()
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.conv.process import Conv

    from loihi_deploy.sim_backend.lava_procs.process import HostInput, NeuronLayer, Readout

    profile = profile or graph.profile
    if profile == "fixed" and graph.fixed is None:
        raise ValueError("emit_lava: the graph has no fixed profile (compile with --profile fixed)")
    T, n_hidden = graph.timesteps, len(graph.hidden)
    period = T + n_hidden + 1
    if profile == "fixed":  # 8-bit integer weights and their exponents, as a chip holds them
        fixed = graph.fixed  # (split weights: two Dense processes, high and low byte)
        weights = [q.dense_parts for q in fixed.hidden]
        readout_weights = fixed.readout_parts
    else:                   # float: the emulator's weights (theta folded in)
        hidden_syn, readout_syn = synapses(graph, profile)
        weights = [[(syn.kernel if isinstance(h.synapse, Conv2d) else syn.weight_t.T, None)]
                   for h, syn in zip(graph.hidden, hidden_syn)]
        readout_weights = [(readout_syn.weight_t.T, None)]
    thetas, biases, arith = neuron_constants(graph, profile)
    input_exps = input_exponents(graph, profile)
    alpha = graph.membrane.alpha if alpha is None else alpha
    alpha_value = neurons.FIXED.alpha_mantissa(alpha) if profile == "fixed" else float(alpha)

    def ordered(parts, order: np.ndarray | None) -> list:
        """Dense parts whose input columns follow a convolution's Lava (W, H, C) order."""
        return parts if order is None else [(w[:, order], exp) for w, exp in parts]

    def conv(parts, message_bits: int, name: str, layer: Conv2d):
        (w, _), = parts   # the exponent is applied by the neuron layer (input_exp)
        c, h, wd = layer.in_shape
        w = lava_kernel(w)
        return Conv(weight=w.astype(np.int32) if profile == "fixed" else w,
                    input_shape=(wd, h, c), stride=layer.stride, padding=layer.padding,
                    num_message_bits=message_bits, name=name)

    host_input = HostInput(shape=(graph.obs_dim,), period=period,
                           first_step_only=graph.encoder == "change", name="host_input")
    input_bits = graph.fixed.input_bits if profile == "fixed" else FLOAT_PAYLOAD_BITS
    model = graph.neuron
    event_bits = model.payload_bits if model.payload_bits > 1 else 0
    denses, layers, source, order = [], [], host_input.s_out, None
    first = graph.hidden[0].synapse
    input_order = lava_order(first.in_shape) if isinstance(first, Conv2d) else None
    for k, (w, theta, bias) in enumerate(zip(weights, thetas, biases)):
        bits = input_bits if k == 0 else event_bits
        syn = graph.hidden[k].synapse
        conv_order = lava_order(syn.out_shape) if isinstance(syn, Conv2d) else None
        if conv_order is not None:
            theta, bias = theta[conv_order], bias[conv_order]
        layer = NeuronLayer(shape=(theta.size,), threshold=theta, bias=bias,
                            v0=neurons.initial_potential(theta, model, arith), alpha=alpha_value,
                            membrane_kind=graph.membrane.kind, crpi_clip=graph.membrane.clip,
                            neuron=str(model), timesteps=T, window_start=k + 1, period=period,
                            input_exp=input_exps[k], name=f"{model.kind}{k}")
        if conv_order is not None:
            d = conv(w, bits, f"conv{k}", syn)
            c, h, wd = syn.in_shape
            source.reshape((wd, h, c)).connect(d.s_in)
            d.a_out.flatten().connect(layer.a_in)
            denses.append(d)
        else:
            denses += lava_denses(ordered(w, order), bits, f"dense{k}", source, layer.a_in)
        order = conv_order
        source = layer.s_out
        layers.append(layer)
    readout = Readout(shape=(graph.act_dim,), coding=model.coding, timesteps=T,
                      window_start=n_hidden + 1, period=period, name="readout")
    denses += lava_denses(ordered(readout_weights, order), event_bits, "dense_readout", source,
                          readout.a_in)
    readout.acc_out.flag_external_pipe(buffer_size=1)
    run_cfg = Loihi2SimCfg(select_tag="fixed_pt" if profile == "fixed" else "floating_pt")
    return LavaNetwork(graph, profile, period, host_input, layers, readout, readout.acc_out,
                       denses, run_cfg, functools.partial(codec.encode, graph, profile=profile),
                       functools.partial(codec.decode, graph, profile=profile),
                       [(layer.v0, layer.v0.init) for layer in layers], input_order)


def emit_lava_trained(graph: TrainedSpikingGraph, profile: str | None = None) -> LavaNetwork:
    """Build the Lava processes of a trained SNN:
        host -> HostInput(obs_dim) -> Dense0 -> AlifLayer0 -> Dense1 -> AlifLayer1 ... -> DenseR
        -> LeakyReadoutLayer(act_dim) -> host (an external pipe, as in emit_lava)
    with the emulator's constants (sim_backend.emulator.trained_constants). One env step =
    period = substeps + L Lava steps (L Dense layers): each process integrates in its window
    and holds its state outside it, so the state carries across env steps exactly as in the
    emulator, whose substeps have no synaptic delay."""
    from loihi_deploy.sim_backend.lava_support import require_lava
    require_lava()
    from lava.magma.core.run_configs import Loihi2SimCfg

    from loihi_deploy.sim_backend.lava_procs.process import (AlifLayer, HostInput,
                                                             LeakyReadoutLayer)

    profile = profile or graph.profile
    if profile == "fixed" and graph.fixed is None:
        raise ValueError("emit_lava: the trained SNN has no fixed profile (quantize_trained)")
    T, n_layers = graph.substeps, len(graph.layers)
    period = T + n_layers + 1
    syns, params, readout_syn, (readout_bias, readout_decay), _ = trained_constants(graph,
                                                                                     profile)
    if profile == "fixed":   # the chip's 8-bit weights and exponents
        weights = [q.dense_parts for q in graph.fixed.layers]
        readout_weights = graph.fixed.readout.dense_parts
    else:                    # float: the emulator's weights
        weights = [[(syn.weight_t.T, None)] for syn in syns]
        readout_weights = [(readout_syn.weight_t.T, None)]
    input_bits = graph.fixed.input_bits if profile == "fixed" else FLOAT_PAYLOAD_BITS

    host_input = HostInput(shape=(graph.obs_dim,), period=period, first_step_only=False,
                           name="host_input")
    denses, layers, source = [], [], host_input.s_out
    for k, (w, p) in enumerate(zip(weights, params)):
        layer = AlifLayer(shape=(p.bias.size,), **p._asdict(), timesteps=T, window_start=k + 1,
                          period=period, name=f"alif{k}")
        denses += lava_denses(w, input_bits if k == 0 else 0, f"dense{k}", source, layer.a_in)
        source = layer.s_out
        layers.append(layer)
    readout = LeakyReadoutLayer(shape=(graph.act_dim,), bias=readout_bias, decay=readout_decay,
                                timesteps=T, window_start=n_layers + 1, period=period,
                                name="readout")
    denses += lava_denses(readout_weights, 0, "dense_readout", source, readout.a_in)
    readout.r_out.flag_external_pipe(buffer_size=1)
    run_cfg = Loihi2SimCfg(select_tag="fixed_pt" if profile == "fixed" else "floating_pt")
    at_rest = [(var, 0) for layer in layers for var in (layer.syn, layer.mem, layer.a, layer.s)]
    at_rest += [(layer.b, p.b_rest) for layer, p in zip(layers, params)] + [(readout.r, 0)]
    return LavaNetwork(graph, profile, period, host_input, layers, readout, readout.r_out, denses,
                       run_cfg, functools.partial(codec.encode, graph, profile=profile),
                       functools.partial(codec.decode_trained, graph, profile=profile), at_rest)
