"""Hardware mapping estimate for Loihi 1 and Loihi 2 (docs/lava.md section 5).

Model (an estimate, stated so it can be checked): each hidden layer and the readout is placed
on its own cores with dense connectivity from the previous layer.
  synapses      = fan_in x neurons x parts (one per weight and Dense part: 2 for split
                  16-bit weights, docs/fixed_point.md);  synaptic memory per synapse = 16 bits
                  (8-bit weight + 8 bits of index/format overhead: an assumption)
  neurons/core  = min(compartment limit, synaptic memory / (fan_in x parts x 2 bytes))
  input axons   = fan_in per core (limit 4096), output axons = neurons (limit 4096)
  convolutions: fan_in = C_in x kh x kw per neuron, synapses stored expanded (one per
                  neuron and kernel entry: no weight sharing, so an upper bound on memory);
                  the input axons of a core (the union of its neurons' receptive fields) are
                  not modelled: the table shows the fan-in
Loihi 1: 128 cores, 1024 compartments and 128 KiB synaptic memory per core.
Loihi 2: 128 cores, 8192 neurons per core (1M per chip), ~120M synapses per chip (about
  1 MiB-equivalent per core at 16 bits per synapse), graded spikes up to 32-bit payloads.
Per-decision latency: (T + L) algorithmic time steps at an assumed 10 us each (Davies et
al. 2018 report ~6-13 us per unthrottled step on large workloads).
Per-decision energy (decision_energy, an ESTIMATE from counted events, docs/lava.md section 5):
  pJ = 23.6 x synaptic ops + 81 x active and 52 x inactive neuron updates + 1.7 x events
  (Loihi 1 figures, Davies et al. 2018 Table 2, 0.75 V; Loihi 2's are not published in this
  form). Synaptic ops: every event (or non-zero input payload entry, each internal step it is
  sent) reaches each of its out-going synapses, so split 16-bit weights count two per
  connection; a graded event counts as one op. Neuron updates: T per hidden neuron.

Neuron models on the chip (state in 24-bit words per neuron, events between layers):
  IF     v, v0 (CRPI's start value), emitted;           1-bit spikes (stock binary events)
  SNM    the same state;                                 2-bit signed graded spikes (+-1)
  MT     the same state;                                 (levels+1)-bit signed graded spikes
                                                         (codes +-2**(levels-1-i))
  DC     + e_in, e_out running means (5 words);          (levels+1)-bit signed graded spikes;
         the bias is e_in's start value (13-bit mantissa << exponent, as a bias);
         x / t is x * round(2**16 / t) >> 16: a 24 x 17-bit multiply (41-bit product) per
         step in microcode, and a 17-bit reciprocal per internal step (T entries)
  CUBA   Loihi's stock compartment (hard reset, vanilla): u, v           1-bit spikes
Loihi 1 has binary spikes only: SNM, MT and DC do not map (nor does soft-reset IF with a
membrane policy, which needs custom neuron code); Loihi 2 carries them as graded spikes.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from loihi_deploy.compiler.ir import Conv2d, SpikingGraph

CHIPS = {
    "Loihi 1": {"cores": 128, "neurons_per_core": 1024, "synapse_bytes_per_core": 128 * 1024,
                "max_axons": 4096, "max_payload_bits": 0},
    "Loihi 2": {"cores": 128, "neurons_per_core": 8192,
                "synapse_bytes_per_core": 120_000_000 * 2 // 128, "max_axons": 4096 * 4,
                "max_payload_bits": 32},
}
BYTES_PER_SYNAPSE = 2
STEP_TIME_US = 10.0
ENERGY_PJ = {"sop": 23.6, "active_update": 81.0, "inactive_update": 52.0, "spike": 1.7}
ENERGY_SOURCE = ("Loihi 1, Davies et al. 2018 Table 2 (0.75 V): 23.6 pJ per synaptic op, 81 / "
                 "52 pJ per active / inactive neuron update, 1.7 pJ per within-tile spike")


@dataclasses.dataclass
class LayerMapping:
    name: str
    neurons: int
    fan_in: int
    synapses: int
    message_bits: int          # 0: 1-bit spikes; > 0: graded payload into this layer
    dense_parts: int           # 2: split weights (high and low byte, two synapses per input)
    neurons_per_core: int
    cores: int
    problems: list[str]


@dataclasses.dataclass
class Mapping:
    chip: str
    layers: list[LayerMapping]
    cores: int
    fits: bool
    problems: list[str]
    steps_per_decision: int
    latency_us: float

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def _fan_in(synapse) -> int:
    """Inputs of one neuron: a Dense layer's width, a convolution's C_in x kh x kw."""
    return synapse.fan_in if isinstance(synapse, Conv2d) else synapse.shape[1]


def synapse_count(synapse) -> int:
    """Connections of a layer (a convolution's counted per neuron and kernel entry)."""
    return synapse.shape[0] * _fan_in(synapse)


def fan_out(synapse) -> np.ndarray:
    """(in,) connections leaving each input entry: the Dense width, or for a convolution the
    (output position, channel) pairs whose kernel covers the entry (fewer at the borders)."""
    if not isinstance(synapse, Conv2d):
        return np.full(synapse.shape[1], synapse.shape[0], dtype=np.float64)
    import torch
    import torch.nn.functional as F
    x = torch.zeros(1, *synapse.in_shape, dtype=torch.float64, requires_grad=True)
    ones = torch.ones(synapse.weight.shape, dtype=torch.float64)
    F.conv2d(x, ones, stride=synapse.stride, padding=synapse.padding).sum().backward()
    return x.grad.reshape(-1).numpy().copy()


def weight_parts(graph: SpikingGraph) -> list[int]:
    """Dense processes (synapses per connection) of every hidden layer and the readout: 2
    where the fixed profile splits the weights, else 1."""
    if graph.fixed is None:
        return [1] * (len(graph.hidden) + 1)
    return [len(q.dense_parts) for q in graph.fixed.hidden] + [len(graph.fixed.readout_parts)]


def synaptic_fan_outs(graph: SpikingGraph) -> list[np.ndarray]:
    """Per synapse layer (hidden 0.., readout), the (in,) synapses leaving each input entry
    on the chip: fan_out x weight parts."""
    synapses = [*(h.synapse for h in graph.hidden), graph.readout]
    return [fan_out(syn) * parts for syn, parts in zip(synapses, weight_parts(graph))]


@dataclasses.dataclass
class DecisionEnergy:
    """Per decision, means over measured decisions (loihi_deploy.api.measure_decision_cost)."""
    events: float             # events emitted by the hidden neurons
    events_per_layer: list
    synaptic_ops: float       # including input_ops
    input_ops: float          # synaptic ops of the observation payload
    neuron_updates: int
    energy_uj: float          # the estimate (module docstring)


def decision_energy(graph: SpikingGraph, events_per_layer, synaptic_ops: float,
                    input_ops: float) -> DecisionEnergy:
    """Energy estimate of one decision from its counted events and synaptic ops."""
    events = float(np.sum(events_per_layer))
    updates = graph.timesteps * sum(h.synapse.shape[0] for h in graph.hidden)
    pj = (ENERGY_PJ["sop"] * synaptic_ops + ENERGY_PJ["active_update"] * events
          + ENERGY_PJ["inactive_update"] * (updates - events) + ENERGY_PJ["spike"] * events)
    return DecisionEnergy(events, [float(e) for e in events_per_layer],
                          float(synaptic_ops), float(input_ops), updates, pj * 1e-6)


def format_energy(energy: DecisionEnergy, how: str) -> str:
    return (f"energy per decision (ESTIMATE): {energy.energy_uj:.2f} uJ = "
            f"{energy.synaptic_ops:.3g} synaptic ops ({energy.input_ops:.3g} from the "
            f"observation) + {energy.neuron_updates} neuron updates + {energy.events:.0f} "
            f"events\n  counted {how}; figures: {ENERGY_SOURCE}")


def map_graph(graph: SpikingGraph, chip: str) -> Mapping:
    spec = CHIPS[chip]
    input_bits = graph.fixed.input_bits if graph.fixed is not None else 24
    shapes = [(f"hidden{k}", (h.synapse.shape[0], _fan_in(h.synapse)))
              for k, h in enumerate(graph.hidden)]
    shapes.append(("readout", graph.readout.shape))
    parts = weight_parts(graph)
    layers = []
    event_bits = graph.neuron.payload_bits if graph.neuron.payload_bits > 1 else 0
    for k, (name, (neurons, fan_in)) in enumerate(shapes):
        bits = input_bits if k == 0 else event_bits
        neuron_bytes = fan_in * BYTES_PER_SYNAPSE * parts[k]
        per_core = min(spec["neurons_per_core"], spec["synapse_bytes_per_core"] // neuron_bytes)
        problems = []
        if per_core == 0:
            problems.append(f"{name}: fan-in {fan_in} x {parts[k]} weight part(s) needs "
                            f"{neuron_bytes} B of synaptic memory per neuron, more than a core "
                            f"has")
            per_core = 1
        if fan_in > spec["max_axons"]:
            problems.append(f"{name}: fan-in {fan_in} exceeds {spec['max_axons']} input axons "
                            f"per core")
        if bits > spec["max_payload_bits"]:
            what = "observations" if k == 0 else f"{graph.neuron} events"
            problems.append(f"{name}: takes {bits}-bit graded payloads; {chip} has "
                            + (f"no graded spikes ({what} would need a rate or population "
                               f"code)" if spec["max_payload_bits"] == 0
                               else f"at most {spec['max_payload_bits']}-bit payloads"))
        layers.append(LayerMapping(name, neurons, fan_in, neurons * fan_in * parts[k], bits,
                                   parts[k], per_core, math.ceil(neurons / per_core), problems))
    cores = sum(layer.cores for layer in layers)
    problems = [p for layer in layers for p in layer.problems]
    if chip == "Loihi 1" and not (graph.neuron.kind == "cuba"
                                  and graph.membrane.kind == "vanilla"):
        problems.append(f"{graph.neuron} neurons with a membrane policy are not a stock Loihi 1 "
                        f"compartment (it resets to 0); they need Loihi 2 microcode")
    if cores > spec["cores"]:
        problems.append(f"needs {cores} cores, the chip has {spec['cores']}")
    steps = graph.timesteps + len(graph.hidden) + 1
    return Mapping(chip, layers, cores, not problems, problems, steps, steps * STEP_TIME_US)


def format_mapping(m: Mapping) -> str:
    lines = [f"{m.chip}: {'fits' if m.fits else 'does NOT fit'} on {m.cores} core(s); "
             f"{m.steps_per_decision} time steps per decision, ~{m.latency_us:.0f} us "
             f"(estimate, {STEP_TIME_US:g} us/step)",
             f"  {'layer':<9}{'neurons':>8}{'in axons':>9}{'out axons':>10}{'weights':>8}"
             f"{'synapses':>10}{'payload':>9}{'neurons/core':>14}{'syn KiB/core':>14}"
             f"{'cores':>7}"]
    for layer in m.layers:
        payload = f"{layer.message_bits}-bit" if layer.message_bits else "1-bit"
        per_core_kib = min(layer.neurons, layer.neurons_per_core) * layer.fan_in \
            * layer.dense_parts * BYTES_PER_SYNAPSE / 1024
        weights = "16-bit" if layer.dense_parts == 2 else "8-bit"
        lines.append(f"  {layer.name:<9}{layer.neurons:>8}{layer.fan_in:>9}{layer.neurons:>10}"
                     f"{weights:>8}{layer.synapses:>10}{payload:>9}"
                     f"{layer.neurons_per_core:>14}{per_core_kib:>14.1f}{layer.cores:>7}")
    if any(layer.dense_parts == 2 for layer in m.layers):
        lines.append("  16-bit: split weights, two stock Dense processes per layer (high and "
                     "low byte): twice the synapses and synaptic operations of 8-bit")
    lines += [f"  why not: {p}" for p in m.problems]
    return "\n".join(lines)
