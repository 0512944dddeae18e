"""ProcessModels for IFLayer and Readout (float and fixed point), and int32 host I/O models.

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
from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel
from lava.proc.io.injector import Injector, PyLoihiInjectorModel

from sim_backend import neurons
from sim_backend.lava_procs.process import IFLayer, Readout


class _Window:
    """Phase bookkeeping shared by the models (see process.py)."""

    def _phase(self) -> tuple[bool, bool, bool]:
        p = self.proc_params
        phase = (self.time_step - 1) % p["period"] - p["window_start"]
        return 0 <= phase < p["timesteps"], phase == 0, phase == p["timesteps"] - 1


class _IFLayerModel(PyLoihiProcessModel, _Window):
    arith = neurons.FLOAT
    spike_dtype = float

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        active, first, last = self._phase()
        if not active:
            self.s_out.send(np.zeros(self.v.shape, dtype=self.spike_dtype))
            return
        if first:
            self.v[:] = self.v0
            self.spike_count[:] = 0
        current = self.arith.current(a_in, self.bias)
        v, spikes, saturated = neurons.if_step(self.v, current, self.threshold, self.arith)
        self.v[:] = v
        self.spike_count[:] += spikes
        self.saturations[:] += saturated
        if last:
            self.v0[:] = neurons.next_initial_potential(
                self.proc_params["membrane_kind"], self.v0, self.v, self.spike_count,
                self.threshold, self.alpha[0], self.arith)
        self.s_out.send(spikes)


@implements(proc=IFLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyIFLayerFloat(_IFLayerModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    threshold: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    v0: np.ndarray = LavaPyType(np.ndarray, float)
    spike_count: np.ndarray = LavaPyType(np.ndarray, np.int64)
    alpha: np.ndarray = LavaPyType(np.ndarray, float)
    saturations: np.ndarray = LavaPyType(np.ndarray, np.int64)
    arith = neurons.FLOAT


@implements(proc=IFLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "bit_accurate_loihi")
class PyIFLayerFixed(_IFLayerModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    threshold: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    v0: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    spike_count: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=16)
    alpha: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=9)
    saturations: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
    arith = neurons.FIXED
    spike_dtype = bool


class _ReadoutModel(PyLoihiProcessModel, _Window):
    arith = neurons.FLOAT

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        active, first, _ = self._phase()
        if first:
            self.acc[:] = 0
        if active:
            acc, saturated = self.arith.saturate(self.acc + a_in)
            self.acc[:] = acc
            self.saturations[:] += saturated
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


class Int32InjectorModel(PyLoihiInjectorModel):
    """Injector for fixed-point graphs: a float injector feeding a fixed Dense makes Lava's
    child raise and the host hang (REFERENCE 3.3), so payloads travel as int32."""
    in_port: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    out_port: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)


class Int32ExtractorModel(PyLoihiExtractorModel):
    in_port: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    out_port: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)


HOST_IO_MODELS = {"float": {Injector: PyLoihiInjectorModel, Extractor: PyLoihiExtractorModel},
                  "fixed": {Injector: Int32InjectorModel, Extractor: Int32ExtractorModel}}
