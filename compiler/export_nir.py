"""Export to NIR (the Neuromorphic Intermediate Representation, package `nir`).

Graph: input -> affine0 -> if0 -> affine1 -> if1 ... -> readout (Affine) -> output.
  affine_l : Affine(weight, bias) or Conv2d (weight, stride, padding, per-channel bias); layer
             0 takes the observation, layer l > 0 takes binary spikes, so its weight is
             W_l * theta_{l-1} (spike amplitude folded in; per input channel for Conv2d).
             A Flatten node sits between the last convolution's IF and the first Affine.
  if_l     : IF(r = 1, v_threshold = theta_l, v_reset = 0).
  readout  : Affine(W_r * theta_last, b_r) on binary spikes.
What NIR 1.0 cannot express, and a NIR consumer will therefore simulate differently, is
recorded in the graph's metadata (key "loihi_deploy") and listed under "not_expressible":
  * reset by subtraction (NIR's IF resets to v_reset; loihi-deploy subtracts theta);
  * the discrete decision loop: T internal steps per decision, membrane policy (vanilla /
    CRPI(alpha) / free: the membrane at each decision's start), the constant-current input;
  * the decoder: readout averaged over the T steps, then offset + scale * tanh (the head).
The float profile is exported (NIR has no fixed-point types).
"""
from __future__ import annotations

import json
import os
import pathlib

import numpy as np

from loihi_deploy.compiler.files import atomic_write_bytes
from loihi_deploy.compiler.ir import Conv2d, SpikingGraph, per_channel

NOT_EXPRESSIBLE = ["reset by subtraction (NIR IF resets to v_reset)",
                   "T internal steps per decision and the membrane policy at decision starts",
                   "readout averaged over T steps, then offset + scale * tanh"]


def to_nir(graph: SpikingGraph):
    import nir
    if graph.neuron.kind != "if":
        raise ValueError(f"NIR export supports IF neurons only: NIR 1.0 has no primitive for "
                         f"{graph.neuron}'s signed, multi-level or differential events; compile "
                         f"with --neuron if")
    first = graph.hidden[0].synapse
    in_shape = first.in_shape if isinstance(first, Conv2d) else (graph.obs_dim,)
    nodes = {"input": nir.Input(input_type={"input": np.array(in_shape)})}
    edges, prev, prev_theta = [], "input", None
    for k, layer in enumerate(graph.hidden):
        syn = layer.synapse
        if isinstance(syn, Conv2d):   # spike amplitude folded in per input channel
            scale = np.ones(syn.in_shape[0]) if prev_theta is None else \
                per_channel(prev_theta.reshape(-1), syn.in_channel_of, "theta")
            nodes[f"affine{k}"] = nir.Conv2d(
                input_shape=syn.in_shape[1:], weight=syn.weight * scale[None, :, None, None],
                stride=syn.stride, padding=syn.padding, dilation=1, groups=1,
                bias=syn.bias.copy())
            theta = layer.threshold.reshape(syn.out_shape)
        else:
            if prev_theta is not None and prev_theta.ndim > 1:   # conv -> dense
                nodes[f"flatten{k}"] = nir.Flatten(input_type={"input": np.array(
                    prev_theta.shape)}, start_dim=0)
                edges.append((prev, f"flatten{k}"))
                prev, prev_theta = f"flatten{k}", prev_theta.reshape(-1)
            w = syn.weight if prev_theta is None else syn.weight * prev_theta
            nodes[f"affine{k}"] = nir.Affine(weight=w.copy(), bias=syn.bias.copy())
            theta = layer.threshold
        nodes[f"if{k}"] = nir.IF(r=np.ones_like(theta), v_threshold=theta.copy(),
                                 v_reset=np.zeros_like(theta))
        edges += [(prev, f"affine{k}"), (f"affine{k}", f"if{k}")]
        prev, prev_theta = f"if{k}", theta
    nodes["readout"] = nir.Affine(weight=graph.readout.weight * prev_theta,
                                  bias=graph.readout.bias.copy())
    nodes["output"] = nir.Output(output_type={"output": np.array([graph.act_dim])})
    edges += [(prev, "readout"), ("readout", "output")]
    semantics = {"producer": "loihi-deploy", "neuron": str(graph.neuron),
                 "timesteps": int(graph.timesteps), "membrane": str(graph.membrane),
                 "reset": "subtract", "initial_potential": "theta/2 at episode start",
                 "head_scale": graph.head.scale.tolist(), "head_offset": graph.head.offset.tolist(),
                 "env_id": graph.env_id, "not_expressible": NOT_EXPRESSIBLE}
    return nir.NIRGraph(nodes=nodes, edges=edges,
                        metadata={"loihi_deploy": json.dumps(semantics)})


def export_nir(graph: SpikingGraph, path: str | os.PathLike) -> pathlib.Path:
    """Write the NIR graph atomically; returns the path."""
    import io

    import nir
    buffer = io.BytesIO()
    nir.write(buffer, to_nir(graph))
    return atomic_write_bytes(path, buffer.getvalue())
