"""Export to NIR (the Neuromorphic Intermediate Representation, package `nir`); docs/nir.md.

Graph: input -> affine0 -> lif0 -> affine1 -> lif1 ... -> readout (Affine) -> output.
  affine_l : Affine(weight, bias) or Conv2d; thresholds are normalised to 1: neuron i's
             incoming weights and bias are divided by its theta_i, and its unit spike enters
             the next layer with amplitude theta_i (folded into that layer's weights, per input
             channel for Conv2d). The IF dynamics are invariant under this scaling, so the
             spikes are those of the unnormalised network (to float rounding). A neuron with
             theta 0 (never active in calibration) gets zero weights: it never fires in NIR,
             and in the deployed network its spikes carry amplitude 0. A Flatten node sits
             between the last convolution's neurons and the first Affine.
  lif_l    : the neuron, no leak, reset to 0, v_threshold 1, as a CubaLIF (IF and cuba alike):
             CubaLIF(tau_syn = DT, tau_mem = NO_LEAK_TAU, r = tau_mem / DT, w_in = 1,
                     v_leak = 0, v_threshold = 1)
             Under forward Euler with step DT (1e-4 s, snnTorch's and Norse's), the synaptic
             current is this step's input (tau_syn = DT) and 1 - DT / NO_LEAK_TAU rounds to 1
             in float32 and float64: v += input each step, spike when v > 1, then v = 0: an
             integrate-and-fire neuron. This is the form NIR consumers read correctly: snnTorch
             1.0 runs nir.IF as a leaky neuron (beta 0.9) and cannot execute it through
             nirtorch, and Norse 1.1 ignores nir.LIF's r (docs/nir.md).
  readout  : Affine(W_r * theta_last, b_r) on unit spikes.
What NIR cannot express, and a NIR consumer therefore simulates differently, is recorded in
the graph's metadata (key "loihi_deploy") under "not_expressible" (NOT_EXPRESSIBLE, plus the
observation clip of a VecNormalize policy). The float profile is exported (NIR has no
fixed-point types). Neuron models other than IF and cuba are refused.
"""
from __future__ import annotations

import json
import os
import pathlib

import numpy as np

from loihi_deploy.compiler.files import atomic_write_bytes
from loihi_deploy.compiler.ir import Conv2d, SpikingGraph, per_channel

DT = 1e-4              # s: the Euler step the neuron parameters are exact for (snnTorch's)
NO_LEAK_TAU = 1e20     # s: 1 - DT / NO_LEAK_TAU == 1.0 in float32 and float64
NOT_EXPRESSIBLE = [
    "reset by subtraction (IF; NIR's neurons here reset to 0)",
    "membrane potential theta/2 at an episode's start (IF; NIR starts at 0)",
    "T internal steps per decision and the membrane policy at decision starts (vanilla / "
    "CRPI(alpha) / free)",
    "readout averaged over T steps, then offset + scale * tanh (the action head)"]
EXPORTABLE = ("if", "cuba")


def _neuron_node(shape: tuple):
    import nir
    ones = np.ones(shape)
    return nir.CubaLIF(tau_syn=ones * DT, tau_mem=ones * NO_LEAK_TAU,
                       r=ones * (NO_LEAK_TAU / DT), v_leak=ones * 0, v_threshold=ones,
                       w_in=ones)


def _inverse(theta: np.ndarray) -> np.ndarray:
    """1/theta, and 0 for theta 0 (a neuron that never fires)."""
    safe = np.where(theta > 0, theta, 1.0)
    return np.where(theta > 0, 1.0 / safe, 0.0)


def not_expressible(graph: SpikingGraph) -> list[str]:
    items = list(NOT_EXPRESSIBLE)
    if graph.input_clip is not None:
        items.append("observation clip to [low, high] before layer 0 (SB3 VecNormalize's clip; "
                     "clip the input before feeding the NIR graph)")
    return items


def to_nir(graph: SpikingGraph):
    import nir
    if graph.neuron.kind not in EXPORTABLE:
        raise ValueError(f"NIR export supports IF and cuba neurons only: NIR has no primitive "
                         f"for {graph.neuron}'s signed, multi-level or differential events; "
                         f"compile with --neuron if or --neuron cuba")
    first = graph.hidden[0].synapse
    in_shape = first.in_shape if isinstance(first, Conv2d) else (graph.obs_dim,)
    nodes = {"input": nir.Input(input_type={"input": np.array(in_shape)})}
    edges, prev, prev_theta = [], "input", None
    for k, layer in enumerate(graph.hidden):
        syn = layer.synapse
        if isinstance(syn, Conv2d):
            scale_in = np.ones(syn.in_shape[0]) if prev_theta is None else \
                per_channel(prev_theta.reshape(-1), syn.in_channel_of, "theta")
            theta_c = per_channel(layer.threshold, syn.channel_of, "theta")
            inv = _inverse(theta_c)
            nodes[f"affine{k}"] = nir.Conv2d(
                input_shape=syn.in_shape[1:],
                weight=syn.weight * scale_in[None, :, None, None] * inv[:, None, None, None],
                stride=syn.stride, padding=syn.padding, dilation=1, groups=1,
                bias=syn.bias * inv)
            theta = layer.threshold.reshape(syn.out_shape)
        else:
            if prev_theta is not None and prev_theta.ndim > 1:   # conv -> dense
                nodes[f"flatten{k}"] = nir.Flatten(input_type={"input": np.array(
                    prev_theta.shape)}, start_dim=0)
                edges.append((prev, f"flatten{k}"))
                prev, prev_theta = f"flatten{k}", prev_theta.reshape(-1)
            theta = layer.threshold
            inv = _inverse(theta)
            w = syn.weight if prev_theta is None else syn.weight * prev_theta
            nodes[f"affine{k}"] = nir.Affine(weight=w * inv[:, None], bias=syn.bias * inv)
        nodes[f"lif{k}"] = _neuron_node(theta.shape)
        edges += [(prev, f"affine{k}"), (f"affine{k}", f"lif{k}")]
        prev, prev_theta = f"lif{k}", theta
    nodes["readout"] = nir.Affine(weight=graph.readout.weight * prev_theta.reshape(-1),
                                  bias=graph.readout.bias.copy())
    nodes["output"] = nir.Output(output_type={"output": np.array([graph.act_dim])})
    edges += [(prev, "readout"), ("readout", "output")]
    semantics = {"producer": "loihi-deploy", "neuron": str(graph.neuron), "dt": DT,
                 "timesteps": int(graph.timesteps), "membrane": str(graph.membrane),
                 "deployed_reset": "subtract" if graph.neuron.kind == "if" else "zero",
                 "deployed_initial_potential": "theta/2" if graph.neuron.kind == "if" else "0",
                 "thresholds": "normalised to 1 (docs/nir.md)",
                 "head_scale": graph.head.scale.tolist(), "head_offset": graph.head.offset.tolist(),
                 "input_clip": None if graph.input_clip is None else
                 {"low": graph.input_clip.low.tolist(), "high": graph.input_clip.high.tolist()},
                 "env_id": graph.env_id, "env_kwargs": graph.env_kwargs,
                 "not_expressible": not_expressible(graph)}
    return nir.NIRGraph(nodes=nodes, edges=edges,
                        metadata={"loihi_deploy": json.dumps(semantics)})


def nir_semantics(graph: SpikingGraph) -> SpikingGraph:
    """The graph as a NIR simulator runs its export: neurons that reset to 0 and start each
    decision at 0 (the cuba rule, vanilla membrane), float. Run it with the emulator to see
    what the export computes, decision by decision (docs/nir.md)."""
    from loihi_deploy.compiler.ir import MembranePolicy, NeuronModel
    return graph.replace(neuron=NeuronModel("cuba"), membrane=MembranePolicy("vanilla"),
                         fixed=None)


def export_nir(graph: SpikingGraph, path: str | os.PathLike) -> pathlib.Path:
    """Write the NIR graph atomically; returns the path."""
    import io

    import nir
    buffer = io.BytesIO()
    nir.write(buffer, to_nir(graph))
    return atomic_write_bytes(path, buffer.getvalue())
