"""Conversion pass: AnnGraph + Calibration -> SpikingGraph (docs/conversion.md, docs/neuron_models.md).

Weights and biases are the ANN's, unchanged; each hidden ReLU becomes a layer of spiking
neurons (IF, SNM, MT or DC) whose threshold is its calibrated theta; the ANN's last Linear becomes the readout of the mean
spike output; the tanh head is kept.
"""
from __future__ import annotations

from loihi_deploy.compiler.calibrate import Calibration
from loihi_deploy.compiler.ir import (AnnGraph, MembranePolicy, NeuronModel, SpikingGraph,
                                      SpikingLayer)


def convert(ann: AnnGraph, calibration: Calibration, timesteps: int,
            membrane: MembranePolicy = MembranePolicy(), env_id: str = "",
            neuron: NeuronModel = NeuronModel(), env_kwargs: dict | None = None) -> SpikingGraph:
    """env_id, env_kwargs (gym.make keywords): the env the graph is for; default: the one the
    calibration ran in."""
    if len(calibration.thresholds) != len(ann.hidden):
        raise ValueError(f"calibration has {len(calibration.thresholds)} threshold vectors, the "
                         f"ANN {len(ann.hidden)} hidden layers")
    hidden = tuple(SpikingLayer(layer, theta)
                   for layer, theta in zip(ann.hidden, calibration.thresholds))
    return SpikingGraph(hidden=hidden, readout=ann.readout, head=ann.head, timesteps=timesteps,
                        membrane=membrane, neuron=neuron,
                        env_id=env_id or calibration.info.get("env_id", ""),
                        env_kwargs=dict(env_kwargs if env_kwargs is not None
                                        else calibration.info.get("env_kwargs", {})),
                        source=dict(ann.source), calibration=dict(calibration.info),
                        input_clip=ann.input_clip)
