"""Lava Processes (interfaces only; the dynamics live in models.py -> sim_backend.neurons).

Decision windows. A decision takes `period` = T + L Lava steps, L = number of Dense layers
(one step of latency each). Within a decision, phase p = (time_step - 1 - phase_offset) %
period; a process with window_start w integrates at phases w .. w + T - 1 and is idle (sends
zeros, adds no bias) otherwise, so every layer integrates exactly the T inputs the emulator
gives it: hidden layer k has w = k + 1, the readout w = n_hidden + 1. At phase 0 every
neuron process is idle: only HostInput and the first Dense work. phase_offset (a Var of every
windowed process, 0 at start) lets the host re-align the decisions after a pause that ended
at any step (runtime.lava_bridge).
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


def _window_vars(process: AbstractProcess) -> None:
    """phase_offset: see the module docstring."""
    process.phase_offset = Var(shape=(1,), init=0)


class HostInput(AbstractProcess):
    """The host's layer-0 payload, read once per decision at phase 0 from `host_in`, an
    external pipe the host sends to (Lava waits there until the host does: the decision's
    start), and sent through s_out (shape (obs_dim,): int32 payload codes in the fixed
    profile, real values in float) at every step of the decision (rate coding) or at phase 0
    only, then zeros (differential coding: first_step_only).

    A host message is (obs_dim + 1,): the payload and an epoch tag. Messages tagged below the
    `epoch` Var are stale (zero payloads the host sent to let Lava reach a pause) and are
    skipped, so a decision always runs on the payload the host sent for it."""

    def __init__(self, *, shape: tuple[int], period: int, first_step_only: bool,
                 name: str | None = None):
        super().__init__(shape=shape, period=period, window_start=0, timesteps=period,
                         first_step_only=first_step_only, name=name)
        self.host_in = InPort(shape=(shape[0] + 1,))
        self.host_in.flag_external_pipe(buffer_size=2)
        self.s_out = OutPort(shape=shape)
        self.payload = Var(shape=shape, init=0)
        self.epoch = Var(shape=(1,), init=0)
        self.clock = Var(shape=(1,), init=0)   # the last Lava time step run
        _window_vars(self)


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
        _window_vars(self)


class Readout(AbstractProcess):
    """Non-spiking integrator (neurons.readout_step; coding "rate" | "differential"): sums its
    input over its T-step window and sends the sum once, at the window's last step (the
    decision's last Lava step), through acc_out: the host reads it there (an external pipe,
    sim_backend.lava_graph)."""

    def __init__(self, *, shape: tuple[int], coding: str, timesteps: int, window_start: int,
                 period: int, name: str | None = None):
        super().__init__(shape=shape, coding=coding, timesteps=timesteps,
                         window_start=window_start, period=period, name=name)
        self.a_in = InPort(shape=shape)
        self.acc_out = OutPort(shape=shape)
        self.acc = Var(shape=shape, init=0)
        self.saturations = Var(shape=(1,), init=0)
        _window_vars(self)


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
        _window_vars(self)


class LeakyReadoutLayer(AbstractProcess):
    """Non-spiking leaky readout of a trained SNN (neurons.leaky_readout_step) in its window,
    holding r otherwise; sends r once, at the window's last step, through r_out (read by the
    host, as Readout's acc_out)."""

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
        _window_vars(self)
