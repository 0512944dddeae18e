"""Lava Processes (interfaces only; the dynamics live in models.py -> sim_backend.neurons).

Decision windows. A decision takes `period` = T + L Lava steps, L = number of Dense layers
(one step of latency each). Within a decision, phase p = (time_step - 1) % period; a process
with window_start w integrates at phases w .. w + T - 1 and is idle (sends zeros, adds no
bias) otherwise, so every layer integrates exactly the T inputs the emulator gives it:
hidden layer k has w = k + 1, the readout w = n_hidden + 1.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


class NeuronLayer(AbstractProcess):
    """Spiking neurons (IF | SNM | MT | DC, compiler.ir.NeuronModel) with a membrane policy
    (vanilla | crpi | free); sends one event code per neuron per step.

    threshold, bias, v, v0, emitted, e_in, e_out are in the profile's units (float; or
    fixed-point state units). alpha: the real alpha (float profile) or its mantissa /256
    (fixed profile). neuron: NeuronModel's string form (e.g. "mt:4"); crpi_clip: the
    membrane policy's clip (None: the model's default). input_exp: the synapse exponent the
    neuron applies to a_in (fixed point; a convolution's, which Lava's Conv does not apply).
    """

    def __init__(self, *, shape: tuple[int], threshold: np.ndarray, bias: np.ndarray,
                 v0: np.ndarray, alpha, membrane_kind: str, crpi_clip: float | None,
                 neuron: str, timesteps: int, window_start: int, period: int,
                 input_exp: int = 0, name: str | None = None):
        super().__init__(shape=shape, membrane_kind=membrane_kind, crpi_clip=crpi_clip,
                         neuron=neuron, timesteps=timesteps, window_start=window_start,
                         period=period, input_exp=input_exp, name=name)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.threshold = Var(shape=shape, init=threshold)
        self.bias = Var(shape=shape, init=bias)
        self.v = Var(shape=shape, init=v0)
        self.v0 = Var(shape=shape, init=v0)
        self.emitted = Var(shape=shape, init=0)
        self.e_in = Var(shape=shape, init=0)
        self.e_out = Var(shape=shape, init=0)
        self.alpha = Var(shape=(1,), init=alpha)
        self.saturations = Var(shape=(1,), init=0)


class Readout(AbstractProcess):
    """Non-spiking integrator (neurons.readout_step; coding "rate" | "differential"): sums its
    input over its T-step window, sends the running value every step (the host keeps the
    value at the window's last step)."""

    def __init__(self, *, shape: tuple[int], coding: str, timesteps: int, window_start: int,
                 period: int, name: str | None = None):
        super().__init__(shape=shape, coding=coding, timesteps=timesteps,
                         window_start=window_start, period=period, name=name)
        self.a_in = InPort(shape=shape)
        self.acc_out = OutPort(shape=shape)
        self.acc = Var(shape=shape, init=0)
        self.saturations = Var(shape=(1,), init=0)


class AlifLayer(AbstractProcess):
    """Adaptive current-based LIF neurons of a directly trained SNN (neurons.alif_step), state
    carried across decisions. Per decision it runs `timesteps` substeps in its window (see
    above) and holds its state otherwise; reset it between episodes by setting syn, mem, a, s
    to 0 and b to b_rest. Constants per neuron in the profile's units (neurons.AlifParams)."""

    def __init__(self, *, shape: tuple[int], bias: np.ndarray, syn_decay: np.ndarray,
                 mem_decay: np.ndarray, ada_decay: np.ndarray, b_rest: np.ndarray,
                 b_step: np.ndarray, a_jump: np.ndarray, timesteps: int, window_start: int,
                 period: int, name: str | None = None):
        super().__init__(shape=shape, timesteps=timesteps, window_start=window_start,
                         period=period, name=name)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        for var, init in (("bias", bias), ("syn_decay", syn_decay), ("mem_decay", mem_decay),
                          ("ada_decay", ada_decay), ("b_rest", b_rest), ("b_step", b_step),
                          ("a_jump", a_jump), ("syn", 0), ("mem", 0), ("b", b_rest), ("a", 0),
                          ("s", 0)):
            setattr(self, var, Var(shape=shape, init=init))
        self.saturations = Var(shape=(1,), init=0)


class LeakyReadoutLayer(AbstractProcess):
    """Non-spiking leaky readout of a trained SNN (neurons.leaky_readout_step) in its window,
    holding r otherwise; sends r every step (the host keeps the value at the window's end)."""

    def __init__(self, *, shape: tuple[int], bias: np.ndarray, decay: np.ndarray,
                 timesteps: int, window_start: int, period: int, name: str | None = None):
        super().__init__(shape=shape, timesteps=timesteps, window_start=window_start,
                         period=period, name=name)
        self.a_in = InPort(shape=shape)
        self.r_out = OutPort(shape=shape)
        self.bias = Var(shape=shape, init=bias)
        self.decay = Var(shape=shape, init=decay)
        self.r = Var(shape=shape, init=0)
        self.saturations = Var(shape=(1,), init=0)
