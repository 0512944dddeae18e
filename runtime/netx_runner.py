"""Run a lava-dl netx HDF5 file (compiler.export_netx) in closed loop, read by lava-dl itself.

The file is loaded by lava-dl's own reader, lava.lib.dl.netx.hdf5.Network, and runs under
Loihi2SimCfg (fixed_pt) with an Injector on Network.inp. Per decision (P = T + L Lava steps,
L = hidden layers + 1 readout): the observation payload is sent at phases 0..T-1 and zeros
after; netx resets block k at phase k + 1 (reset_interval P, reset_offset 1), so each block
integrates exactly its T-step window; after the P steps the readout block's current u is
(sum of readout inputs) << 6, which the host decodes like the emulator's accumulator.

Import route: lava.lib.dl.netx imports lava.lib.dl.slayer, whose package __init__ imports
its object-detection code and so OpenCV, which is not installed here (docs/lava.md; the OpenCV
wheels that install pull numpy 2, which hangs Lava). When that import fails, slayer is
registered as a bare package (its __init__ skipped) and only the modules netx needs are
imported from it: lava-dl's own code, nothing replaced.
"""
from __future__ import annotations

import importlib.util
import pathlib
import sys
import time
import types
import warnings

import numpy as np

from loihi_deploy.compiler.export_netx import check_netx_file
from loihi_deploy.compiler.ir import SpikingGraph
from loihi_deploy.runtime import lava_reaper
from loihi_deploy.sim_backend import codec


def import_netx():
    """lava.lib.dl.netx.hdf5 (see the module docstring for the import route)."""
    from loihi_deploy.sim_backend.lava_support import require_lava
    require_lava()
    try:
        import lava.lib.dl.netx.hdf5 as hdf5
        return hdf5
    except ImportError:
        for name in [m for m in sys.modules if m.startswith(("lava.lib.dl.slayer",
                                                             "lava.lib.dl.netx"))]:
            del sys.modules[name]
    spec = importlib.util.find_spec("lava.lib.dl")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("lava-dl is not installed (make install)")
    package = types.ModuleType("lava.lib.dl.slayer")
    package.__path__ = [str(pathlib.Path(spec.submodule_search_locations[0]) / "slayer")]
    sys.modules["lava.lib.dl.slayer"] = package
    import lava.lib.dl.netx.hdf5 as hdf5
    return hdf5


class NetxController:
    """Controller (runtime.closed_loop protocol, batch 1) running a netx file on Lava."""

    def __init__(self, netx_path, graph: SpikingGraph, timeout_s: float = 30.0):
        check_netx_file(netx_path, graph)
        hdf5 = import_netx()   # first: it sets up Lava (sim_backend.lava_support)
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc.io.injector import Injector

        from loihi_deploy.sim_backend.lava_procs.models import INT32_INJECTOR
        self.graph = graph
        self.period = graph.timesteps + len(graph.hidden) + 1
        try:   # the checksum has no key: a re-signed file may hold anything
            with warnings.catch_warnings():     # its reader's divide-by-zero on zero weights
                warnings.simplefilter("ignore", RuntimeWarning)
                self.net = hdf5.Network(net_config=str(netx_path),
                                        input_message_bits=graph.fixed.input_bits,
                                        reset_interval=self.period, reset_offset=1)
        except Exception as exc:  # noqa: BLE001 - lava-dl's reader fails on it in its own way
            raise ValueError(f"{netx_path}: lava-dl cannot build a network from it "
                             f"({type(exc).__name__}: {str(exc)[:200]})") from None
        if len(self.net.layers) != len(graph.hidden) + 1:
            raise ValueError(f"{netx_path}: {len(self.net.layers)} blocks, the bundle has "
                             f"{len(graph.hidden)} hidden layers + a readout")
        self.injector = Injector(shape=(graph.obs_dim,), buffer_size=self.period)
        self.injector.out_port.connect(self.net.inp)
        self.readout = self.net.layers[-1].neuron
        self.run_cfg = Loihi2SimCfg(select_tag="fixed_pt",
                                    exception_proc_model_map=INT32_INJECTOR)
        self.timeout_s = timeout_s
        self.latencies_s: list[float] = []
        self._started = False

    def reset(self) -> None:
        """Nothing carries over between decisions (every block resets each decision)."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        from lava.magma.core.run_conditions import RunSteps

        from loihi_deploy.runtime.lava_bridge import LavaTimeout, _run_bounded
        payload, _ = codec.encode(self.graph, np.asarray(obs), "fixed")
        payload = payload[0].astype(np.int32)
        if not self._started:
            lava_reaper.start()    # before Lava forks: its processes cannot outlive this one
            self._started = True
            with lava_reaper.lava_children():
                self.injector.create_runtime(run_cfg=self.run_cfg)
        start = time.perf_counter()
        for phase in range(self.period):
            self.injector.send(payload if phase < self.graph.timesteps else payload * 0)
        if not _run_bounded(lambda: self.injector.run(RunSteps(num_steps=self.period),
                                                      run_cfg=self.run_cfg), self.timeout_s):
            raise LavaTimeout(f"the netx network failed or did not finish a decision within "
                              f"{self.timeout_s:g} s")
        u = np.asarray(self.readout.u.get(), dtype=np.int64)
        self.latencies_s.append(time.perf_counter() - start)
        return codec.decode(self.graph, (u >> 6).astype(np.float64)[None, :], "fixed")

    def close(self) -> None:
        from loihi_deploy.runtime.lava_bridge import _run_bounded
        if self._started:
            _run_bounded(self.injector.stop, 10.0)
            self._started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
