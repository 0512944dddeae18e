"""Runtime bridge: env observations -> Lava graph -> actions, one decision per env step.

Per decision: encode the observation (LavaNetwork.encode), start RunSteps(period) without
blocking, send the payload for every Lava step (differential coding: the first step only, then
zeros) through the Injector (its buffer holds a whole
decision), receive the readout of every step through the Extractor (keeping the last, the
full T-step sum), wait, decode. Every
wait is bounded: a dead or stuck Lava child raises LavaTimeout instead of hanging, and close()
always returns, killing Lava's child processes if its own stop does not finish.

Backends: "emulator" (sim_backend.emulator), "lava" (Loihi2SimCfg on the CPU), "loihi"
(Loihi2HwCfg; needs Intel's lava-loihi and a board, detected by loihi_available()).
"""
from __future__ import annotations

import multiprocessing
import threading
import time

import numpy as np

from loihi_deploy.compiler.ir import SpikingGraph, TrainedSpikingGraph
from loihi_deploy.runtime import lava_reaper

BACKENDS = ("emulator", "lava", "loihi")


class LavaTimeout(RuntimeError):
    """Lava did not answer within the deadline (a child process died or hung)."""


def loihi_available() -> tuple[bool, str]:
    """(available, reason). Loihi needs the proprietary lava-loihi package and a board."""
    import importlib.metadata as md
    try:
        md.version("lava-loihi")
    except md.PackageNotFoundError:
        return False, ("Loihi hardware needs Intel's lava-loihi package (INRC members) and an "
                       "attached Loihi 2 system; lava-loihi is not installed here. Use "
                       "--backend lava (CPU simulation of the same processes) or emulator.")
    return False, ("lava-loihi is installed, but the IF layer of loihi-deploy has only Python "
                   "(CPU) process models so far; a Loihi 2 microcode model for it is not "
                   "implemented. Use --backend lava or emulator.")


class LavaController:
    """Controller (runtime.closed_loop protocol, batch 1) running the graph in Lava."""

    def __init__(self, graph: SpikingGraph | TrainedSpikingGraph, profile: str | None = None,
                 alpha: float | None = None, timeout_s: float = 30.0):
        """A TrainedSpikingGraph (directly trained SNN) takes observation + target as its
        input, keeps its state across decisions and is reset between episodes; alpha and
        membrane policies do not apply to it."""
        from loihi_deploy.sim_backend.lava_graph import emit_lava, emit_lava_trained
        self.graph = graph
        self.net = emit_lava_trained(graph, profile) if isinstance(graph, TrainedSpikingGraph) \
            else emit_lava(graph, profile, alpha)
        self.profile = self.net.profile
        self.timeout_s = timeout_s
        self.latencies_s: list[float] = []
        self.input_clips = 0
        self._started = False
        self._closed = False

    # -- controller protocol ---------------------------------------------------------------
    def reset(self) -> None:
        """Start of an episode: the network back at rest (converted: every layer's v0 at
        v_init; trained: every state variable). The first call starts Lava (compiles the
        processes and runs one decision on a zero input, discarded), so that no decision of
        an episode pays for the start-up (runtime.pacing counts latencies per decision)."""
        if self._closed:
            raise RuntimeError("LavaController is closed")
        if not self._started:
            zeros = np.zeros(self.graph.obs_dim,
                             dtype=np.int32 if self.profile == "fixed" else np.float64)
            self._decision(zeros)
        for var, value in self.net.episode_start:
            var.set(np.array(np.broadcast_to(value, var.shape)))

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.shape != (1, self.graph.obs_dim):
            raise ValueError(f"lava backend runs one env: expected observations of shape "
                             f"(1, {self.graph.obs_dim}), got {obs.shape}")
        if self._closed:
            raise RuntimeError("LavaController is closed")
        payload, clipped = self.net.encode(obs)
        self.input_clips += int(clipped.sum())
        payload = payload[0].astype(np.int32 if self.profile == "fixed" else np.float64)
        if self.net.input_order is not None:   # a convolution reads Lava's (W, H, C) order
            payload = payload[self.net.input_order]
        start = time.perf_counter()
        acc = self._decision(payload)
        self.latencies_s.append(time.perf_counter() - start)
        return self.net.decode(np.asarray(acc, dtype=np.float64)[None, :])

    def _decision(self, payload: np.ndarray) -> np.ndarray:
        """One decision (period Lava steps) on a layer-0 payload; the readout accumulator."""
        from lava.magma.core.run_conditions import RunSteps
        first = self.net.injector
        lava_reaper.start()    # before Lava forks: its processes cannot outlive this one
        self._started = True   # before run(): an interrupt inside it must still stop Lava
        with lava_reaper.lava_children():
            first.run(condition=RunSteps(num_steps=self.net.period, blocking=False),
                      run_cfg=self.net.run_cfg)
        deadline = time.monotonic() + self.timeout_s
        once = self.net.first_step_only   # differential coding
        for step in range(self.net.period):  # the injector's buffer holds a whole decision
            self.net.injector.send(payload * 0 if once and step > 0 else payload)
        for _ in range(self.net.period):  # so does the extractor's: Lava never waits on us
            acc = self._receive(deadline)
        self._wait(deadline)
        return acc

    # -- bounded I/O -------------------------------------------------------------------------
    def _receive(self, deadline: float) -> np.ndarray:
        port = self.net.extractor.out_port.external_pipe_csp_recv_port
        while not port.probe():
            if time.monotonic() > deadline:
                raise LavaTimeout(f"no output from Lava within {self.timeout_s:g} s (a Lava "
                                  f"process died or hung)")
            time.sleep(0.0001)
        return self.net.extractor.receive()

    def _wait(self, deadline: float) -> None:
        done = threading.Event()
        errors: list[BaseException] = []

        def wait():
            try:
                self.net.injector.wait()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(exc)
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        if not done.wait(max(deadline - time.monotonic(), 0.0)):
            raise LavaTimeout(f"Lava did not finish the decision within {self.timeout_s:g} s")
        if errors:
            raise errors[0]

    def fixed_point_events(self) -> tuple[int, int]:
        """(saturation events counted by the Lava models, clipped input entries) so far."""
        procs = [*self.net.layers, self.net.readout]
        saturations = int(sum(p.saturations.get()[0] for p in procs)) if self._started else 0
        return saturations, self.input_clips

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop Lava; if its stop does not return in time, kill its child processes (within
        the CLI's grace period after a signal, loihi_deploy.cli.GRACE_S)."""
        if self._closed:
            return
        self._closed = True
        if not self._started:
            return
        if not _run_bounded(self.net.injector.stop, timeout_s):
            self._force_shutdown()

    def _force_shutdown(self) -> None:
        """Kill the process models, then let Lava's SharedMemoryManager unlink its segments."""
        kill_children(lambda c: type(c).__name__ == "SystemProcess")
        runtime = self.net.injector.runtime
        smm = getattr(getattr(runtime, "_messaging_infrastructure", None), "smm", None)
        if smm is not None:
            _run_bounded(smm.shutdown, 5.0)
        kill_children(lambda c: True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _run_bounded(fn, timeout_s: float) -> bool:
    """Run fn in a daemon thread; True if it returned without raising within timeout_s."""
    outcome = []

    def target():
        try:
            fn()
            outcome.append(True)
        except Exception:  # noqa: BLE001 - a broken runtime; the caller falls back to killing
            outcome.append(False)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(outcome and outcome[0])


def kill_children(select) -> None:
    """Terminate, then kill, this process's selected child processes (Lava's models)."""
    # Lava's SystemProcess overrides join() without a timeout: use the base class's.
    join = multiprocessing.process.BaseProcess.join
    children = [c for c in multiprocessing.active_children() if select(c)]
    for child in children:
        child.terminate()
    for child in children:
        join(child, 2.0)
        if child.is_alive():
            child.kill()
            join(child, 2.0)
