"""ProcessModels for NeuronLayer and Readout, AlifLayer and LeakyReadoutLayer (float and fixed
point), HostInput's models, and an int32 model for the stock Injector (netx graphs).

Every model calls the dynamics in sim_backend.neurons, the same functions the emulator calls,
with the FLOAT or FIXED arithmetic profile; nothing about the neuron is defined here.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.io.injector import Injector, PyLoihiInjectorModel

from loihi_deploy.sim_backend import neurons
from loihi_deploy.compiler.ir import NeuronModel
from loihi_deploy.sim_backend.lava_procs.process import (AlifLayer, HostInput,
                                                         LeakyReadoutLayer, NeuronLayer,
                                                         Readout)


class _Window:
    """Phase bookkeeping shared by the models (see process.py)."""
    phase_offset: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)

    def _phase(self) -> tuple[bool, bool, bool, int]:
        """(active, first step, last step, internal step t = 1..T) at this Lava step."""
        p = self.proc_params
        phase = (self.time_step - 1 - self.phase_offset[0]) % p["period"] - p["window_start"]
        return 0 <= phase < p["timesteps"], phase == 0, phase == p["timesteps"] - 1, phase + 1


class _HostInputModel(PyLoihiProcessModel, _Window):
    epoch: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
    clock: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)

    def run_spk(self) -> None:
        self.clock[0] = self.time_step
        _, first, _, _ = self._phase()
        if first:   # the decision's start: wait for the host's payload of this epoch
            message = self.host_in.recv()
            while message[-1] < self.epoch[0]:
                message = self.host_in.recv()
            self.payload[:] = message[:-1]
            self.s_out.send(self.payload)
        else:
            self.s_out.send(self.payload * 0 if self.proc_params["first_step_only"]
                            else self.payload)


@implements(proc=HostInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyHostInputFloat(_HostInputModel):
    host_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    payload: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=HostInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "bit_accurate_loihi")
class PyHostInputFixed(_HostInputModel):
    """Payload codes travel as int32 (graded spikes of up to 24 bits into the first Dense)."""
    host_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    payload: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)


class _NeuronLayerModel(PyLoihiProcessModel, _Window):
    arith = neurons.FLOAT
    _model: NeuronModel | None = None

    def _neuron_model(self) -> NeuronModel:
        """The layer's NeuronModel, parsed once from proc_params."""
        if self._model is None:
            self._model = NeuronModel.parse(self.proc_params["neuron"])
        return self._model

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        active, first, last, t = self._phase()
        if not active:
            self.s_out.send(np.zeros(self.v.shape, dtype=self.v.dtype))
            return
        model = self._neuron_model()
        if first:
            start = neurons.decision_start(self.v0, self.bias, model)
        else:
            start = neurons.LayerState(self.v, self.emitted, self.e_in, self.e_out)
        state, code, saturated = neurons.layer_step(start, a_in, t, self.threshold, self.bias,
                                                    model, self.arith,
                                                    self.proc_params["input_exp"])
        self.v[:], self.emitted[:], self.e_in[:], self.e_out[:] = state
        self.saturations[:] += saturated
        if last:
            self.v0[:] = neurons.next_initial_potential(
                self.proc_params["membrane_kind"], self.v0, self.v, self.emitted,
                self.threshold, self.alpha[0], model, self.proc_params["crpi_clip"], self.arith)
        self.s_out.send(code)


@implements(proc=NeuronLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyNeuronLayerFloat(_NeuronLayerModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    threshold: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    v0: np.ndarray = LavaPyType(np.ndarray, float)
    emitted: np.ndarray = LavaPyType(np.ndarray, float)
    e_in: np.ndarray = LavaPyType(np.ndarray, float)
    e_out: np.ndarray = LavaPyType(np.ndarray, float)
    alpha: np.ndarray = LavaPyType(np.ndarray, float)
    saturations: np.ndarray = LavaPyType(np.ndarray, np.int64)
    arith = neurons.FLOAT


@implements(proc=NeuronLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "bit_accurate_loihi")
class PyNeuronLayerFixed(_NeuronLayerModel):
    """Event codes leave as int32: a 1-bit spike for IF (Dense casts to bool), a signed
    graded payload of NeuronModel.payload_bits for SNM / MT / DC (Dense num_message_bits)."""
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=8)
    threshold: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    v0: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    emitted: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    e_in: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    e_out: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    alpha: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=9)
    saturations: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
    arith = neurons.FIXED


class _ReadoutModel(PyLoihiProcessModel, _Window):
    arith = neurons.FLOAT

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        active, first, last, t = self._phase()
        if first:
            self.acc[:] = 0
        if active:
            acc, saturated = neurons.readout_step(self.acc, a_in, t, self.proc_params["coding"],
                                                  self.arith)
            self.acc[:] = acc
            self.saturations[:] += saturated
        if last:   # once per decision, to the host
            self.acc_out.send(self.acc)


@implements(proc=Readout, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyReadoutFloat(_ReadoutModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    acc_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    acc: np.ndarray = LavaPyType(np.ndarray, float)
    saturations: np.ndarray = LavaPyType(np.ndarray, np.int64)
    arith = neurons.FLOAT


@implements(proc=Readout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "bit_accurate_loihi")
class PyReadoutFixed(_ReadoutModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    acc_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    acc: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    saturations: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
    arith = neurons.FIXED


class _AlifModel(PyLoihiProcessModel, _Window):
    arith = neurons.FLOAT

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        active, _, _, _ = self._phase()
        if not active:
            self.s_out.send(np.zeros(self.s.shape, dtype=self.s.dtype))
            return
        params = neurons.AlifParams(self.bias, self.syn_decay, self.mem_decay, self.ada_decay,
                                    self.b_rest, self.b_step, self.a_jump)
        state, saturated = neurons.alif_step(
            neurons.AlifState(self.syn, self.mem, self.b, self.a, self.s), a_in, params,
            self.arith)
        self.syn[:], self.mem[:], self.b[:], self.a[:], self.s[:] = state
        self.saturations[:] += np.sum(saturated)
        self.s_out.send(self.s)


@implements(proc=AlifLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyAlifFloat(_AlifModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    saturations: np.ndarray = LavaPyType(np.ndarray, np.int64)
    arith = neurons.FLOAT
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    syn_decay: np.ndarray = LavaPyType(np.ndarray, float)
    mem_decay: np.ndarray = LavaPyType(np.ndarray, float)
    ada_decay: np.ndarray = LavaPyType(np.ndarray, float)
    b_rest: np.ndarray = LavaPyType(np.ndarray, float)
    b_step: np.ndarray = LavaPyType(np.ndarray, float)
    a_jump: np.ndarray = LavaPyType(np.ndarray, float)
    syn: np.ndarray = LavaPyType(np.ndarray, float)
    mem: np.ndarray = LavaPyType(np.ndarray, float)
    b: np.ndarray = LavaPyType(np.ndarray, float)
    a: np.ndarray = LavaPyType(np.ndarray, float)
    s: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=AlifLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "bit_accurate_loihi")
class PyAlifFixed(_AlifModel):
    """Spikes leave as 1-bit int32 events (Dense casts to bool)."""
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    saturations: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
    arith = neurons.FIXED
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    syn_decay: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    mem_decay: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    ada_decay: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    b_rest: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    b_step: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    a_jump: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    syn: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    mem: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    b: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    a: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    s: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)


class _LeakyReadoutModel(PyLoihiProcessModel, _Window):
    arith = neurons.FLOAT

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        active, _, last, _ = self._phase()
        if active:
            r, saturated = neurons.leaky_readout_step(self.r, a_in, self.bias, self.decay,
                                                      self.arith)
            self.r[:] = r
            self.saturations[:] += np.sum(saturated)
        if last:   # once per env step, to the host
            self.r_out.send(self.r)


@implements(proc=LeakyReadoutLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyLeakyReadoutFloat(_LeakyReadoutModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    r_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    decay: np.ndarray = LavaPyType(np.ndarray, float)
    r: np.ndarray = LavaPyType(np.ndarray, float)
    saturations: np.ndarray = LavaPyType(np.ndarray, np.int64)
    arith = neurons.FLOAT


@implements(proc=LeakyReadoutLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "bit_accurate_loihi")
class PyLeakyReadoutFixed(_LeakyReadoutModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    r_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    decay: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=13)
    r: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    saturations: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
    arith = neurons.FIXED


class Int32InjectorModel(PyLoihiInjectorModel):
    """Stock Injector for fixed-point netx graphs (runtime.netx_runner): a float injector
    feeding a fixed Dense makes Lava's child raise and the host hang (docs/lava.md section
    3), so payloads travel as int32."""
    in_port: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    out_port: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)


INT32_INJECTOR = {Injector: Int32InjectorModel}
