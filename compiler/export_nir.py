"""Export to NIR (the Neuromorphic Intermediate Representation, package `nir`).

Graph: input -> affine0 -> if0 -> affine1 -> if1 ... -> readout (Affine) -> output.
  affine_l : Affine(weight, bias); layer 0 takes the observation, layer l > 0 takes binary
             spikes, so its weight is W_l * theta_{l-1} (spike amplitude folded in).
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

from compiler.ir import SpikingGraph

NOT_EXPRESSIBLE = ["reset by subtraction (NIR IF resets to v_reset)",
                   "T internal steps per decision and the membrane policy at decision starts",
                   "readout averaged over T steps, then offset + scale * tanh"]


def to_nir(graph: SpikingGraph):
    import nir
    if graph.neuron.kind != "if":
        raise ValueError(f"NIR export supports IF neurons only: NIR 1.0 has no primitive for "
                         f"{graph.neuron}'s signed, multi-level or differential events; compile "
                         f"with --neuron if")
    nodes = {"input": nir.Input(input_type={"input": np.array([graph.obs_dim])})}
    edges, prev, prev_theta = [], "input", None
    for k, layer in enumerate(graph.hidden):
        w = layer.synapse.weight if prev_theta is None else layer.synapse.weight * prev_theta
        nodes[f"affine{k}"] = nir.Affine(weight=w.copy(), bias=layer.synapse.bias.copy())
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
    import nir
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        nir.write(str(tmp), to_nir(graph))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
