"""The compiler's intermediate representation: small, typed, validated dataclasses of arrays.

Semantics (units are the policy's own: observation units in, action units out):

AnnGraph     the trained policy. hidden[i]: x <- relu(W x + b); readout: z = W x + b;
             head: action = offset + scale * tanh(z).
SpikingGraph the converted policy, one decision per env step (REFERENCE 1.1):
             the observation is a constant input current at each of T internal steps;
             hidden layer l integrates I = W x_prev + b into IF neurons with threshold theta
             (per neuron); a spike carries amplitude theta into the next layer; the readout
             is the ANN's last Linear on the mean over T of the last hidden layer's outputs,
             then the head. The membrane policy says what the membrane holds at the start of
             each decision (sim_backend.neurons has the equations).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


def _as_matrix(name: str, a, rows: int | None = None, cols: int | None = None) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D weight matrix, got shape {a.shape}")
    if rows is not None and a.shape[0] != rows or cols is not None and a.shape[1] != cols:
        raise ValueError(f"{name}: expected shape ({rows}, {cols}), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains NaN or Inf")
    return a


def _as_vector(name: str, a, size: int) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.shape != (size,):
        raise ValueError(f"{name}: expected shape ({size},), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains NaN or Inf")
    return a


@dataclasses.dataclass(frozen=True)
class Dense:
    """y = weight @ x + bias; weight (out, in), bias (out,)."""
    weight: np.ndarray
    bias: np.ndarray

    def __post_init__(self):
        w = _as_matrix("Dense.weight", self.weight)
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", _as_vector("Dense.bias", self.bias, w.shape[0]))

    @property
    def shape(self) -> tuple[int, int]:
        return self.weight.shape


@dataclasses.dataclass(frozen=True)
class ActionHead:
    """action = offset + scale * tanh(z); scale, offset (act_dim,) in action units."""
    scale: np.ndarray
    offset: np.ndarray

    def __post_init__(self):
        s = np.asarray(self.scale, dtype=np.float64).reshape(-1)
        object.__setattr__(self, "scale", _as_vector("ActionHead.scale", s, s.size))
        object.__setattr__(self, "offset", _as_vector("ActionHead.offset", self.offset, s.size))

    @classmethod
    def from_bounds(cls, low, high) -> "ActionHead":
        low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        return cls(scale=(high - low) / 2, offset=(high + low) / 2)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.offset + self.scale * np.tanh(z)


def _check_chain(layers: list[Dense], what: str) -> None:
    for i in range(1, len(layers)):
        if layers[i].shape[1] != layers[i - 1].shape[0]:
            raise ValueError(f"{what}: layer {i} expects {layers[i].shape[1]} inputs but layer "
                             f"{i - 1} has {layers[i - 1].shape[0]} outputs")


@dataclasses.dataclass(frozen=True)
class AnnGraph:
    """A ReLU MLP policy with a tanh head. source: provenance (kind, path, sha256, ...)."""
    hidden: tuple[Dense, ...]
    readout: Dense
    head: ActionHead
    source: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if not self.hidden:
            raise ValueError("AnnGraph: at least one hidden ReLU layer is required")
        _check_chain([*self.hidden, self.readout], "AnnGraph")
        if self.head.scale.size != self.readout.shape[0]:
            raise ValueError(f"AnnGraph: head has {self.head.scale.size} actions, readout "
                             f"{self.readout.shape[0]}")

    @property
    def obs_dim(self) -> int:
        return self.hidden[0].shape[1]

    @property
    def act_dim(self) -> int:
        return self.readout.shape[0]

    def forward(self, obs: np.ndarray, activations: list | None = None) -> np.ndarray:
        """(B, obs_dim) -> (B, act_dim). Appends each hidden layer's ReLU output to activations."""
        x = np.asarray(obs, dtype=np.float64)
        for layer in self.hidden:
            x = np.maximum(x @ layer.weight.T + layer.bias, 0.0)
            if activations is not None:
                activations.append(x)
        return self.head(x @ self.readout.weight.T + self.readout.bias)


MEMBRANE_KINDS = ("vanilla", "crpi", "free")


@dataclasses.dataclass(frozen=True)
class MembranePolicy:
    """What the membrane holds at the start of each decision (sim_backend.neurons).

    vanilla: theta/2 (= crpi with alpha 0); crpi: the paper's rule with alpha in [0, 1];
    free: the membrane runs on across decisions (v[0] of step k+1 = v[T] of step k).
    """
    kind: str = "vanilla"
    alpha: float = 0.0

    def __post_init__(self):
        if self.kind not in MEMBRANE_KINDS:
            raise ValueError(f"membrane policy: expected one of {MEMBRANE_KINDS}, got {self.kind!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"membrane policy: alpha must be in [0, 1], got {self.alpha}")
        if self.kind != "crpi" and self.alpha != 0.0:
            raise ValueError(f"membrane policy {self.kind!r} takes no alpha (got {self.alpha})")

    @classmethod
    def parse(cls, text: str) -> "MembranePolicy":
        """'vanilla' | 'free' | 'crpi:0.5' (or 'crpi' for alpha 0.5)."""
        kind, _, alpha = text.strip().lower().partition(":")
        if kind == "crpi":
            return cls("crpi", float(alpha) if alpha else 0.5)
        if alpha:
            raise ValueError(f"membrane policy {kind!r} takes no alpha (got {text!r})")
        return cls(kind)

    def __str__(self) -> str:
        return f"crpi:{self.alpha:g}" if self.kind == "crpi" else self.kind


NEURON_MODELS = ("if",)


@dataclasses.dataclass(frozen=True)
class SpikingLayer:
    """IF layer: input current I = weight @ x_prev + bias, per-neuron threshold (out,) > = 0."""
    synapse: Dense
    threshold: np.ndarray

    def __post_init__(self):
        th = _as_vector("SpikingLayer.threshold", self.threshold, self.synapse.shape[0])
        if np.any(th < 0):
            raise ValueError("SpikingLayer.threshold: thresholds must be >= 0")
        object.__setattr__(self, "threshold", th)


@dataclasses.dataclass(frozen=True)
class SpikingGraph:
    """The converted policy (see the module docstring for its semantics)."""
    hidden: tuple[SpikingLayer, ...]
    readout: Dense
    head: ActionHead
    timesteps: int
    membrane: MembranePolicy = MembranePolicy()
    neuron: str = "if"
    encoder: str = "constant_current"
    env_id: str = ""
    source: dict[str, Any] = dataclasses.field(default_factory=dict)
    calibration: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if not self.hidden:
            raise ValueError("SpikingGraph: at least one hidden spiking layer is required")
        _check_chain([*(h.synapse for h in self.hidden), self.readout], "SpikingGraph")
        if not isinstance(self.timesteps, (int, np.integer)) or self.timesteps < 1:
            raise ValueError(f"SpikingGraph: timesteps T must be an integer >= 1, got "
                             f"{self.timesteps!r}")
        if self.neuron not in NEURON_MODELS:
            raise ValueError(f"SpikingGraph: neuron model must be one of {NEURON_MODELS}, got "
                             f"{self.neuron!r}")
        if self.encoder != "constant_current":
            raise ValueError(f"SpikingGraph: unknown encoder {self.encoder!r}")

    @property
    def obs_dim(self) -> int:
        return self.hidden[0].synapse.shape[1]

    @property
    def act_dim(self) -> int:
        return self.readout.shape[0]

    def replace(self, **changes) -> "SpikingGraph":
        return dataclasses.replace(self, **changes)
