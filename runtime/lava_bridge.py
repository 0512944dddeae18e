"""Runtime bridge: env observations -> Lava graph -> actions, one decision per env step.

Per decision: encode the observation (LavaNetwork.encode), start RunSteps(period) without
blocking, send the payload for every Lava step (differential coding: the first step only, then
zeros) through the Injector (its buffer holds a whole decision), receive the readout's sum,
which it sends once, at the decision's last step, decode. The run's end (the runtime services
reporting DONE) is collected at the next call into Lava, so the action does not wait for it
(docs/performance.md measures what each of these costs). Every wait is bounded and
event-driven (no polling): a dead or stuck Lava child raises LavaTimeout instead of hanging,
and close() always returns, killing Lava's child processes if its own stop does not finish.

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
    """Controller (runtime.closed_loop protocol, batch 1) running the graph in Lava.

    Lava runs continuously (RunContinuous) through an episode: per decision the host sends
    one payload into HostInput's pipe (the graph waits for it at the decision's first step)
    and receives the readout's sum, with no run to start or finish per decision. Vars can
    only be set or read while Lava is paused: reset() and fixed_point_events() pause it
    (_pause) and the next decision resumes it (_resume)."""

    def __init__(self, graph: SpikingGraph | TrainedSpikingGraph, profile: str | None = None,
                 alpha: float | None = None, timeout_s: float = 30.0):
        """A TrainedSpikingGraph (directly trained SNN) takes its controller inputs
        (observation, target, maybe the observation's change), keeps its state across
        decisions and is reset between episodes; alpha and membrane policies do not apply
        to it."""
        from loihi_deploy.sim_backend.lava_graph import emit_lava, emit_lava_trained
        self.graph = graph
        self.net = emit_lava_trained(graph, profile) if isinstance(graph, TrainedSpikingGraph) \
            else emit_lava(graph, profile, alpha)
        self.profile = self.net.profile
        self.timeout_s = timeout_s
        self.latencies_s: list[float] = []
        self.input_clips = 0
        self._dtype = np.int32 if self.profile == "fixed" else np.float64
        self._state = "new"      # "new" (Lava not started) | "running" | "paused" | "closed"
        self._epoch = 0          # HostInput skips host messages tagged below it
        self._boundary = 0       # Lava time step after which the current decision run began
        self._decisions = 0      # decisions since then

    # -- controller protocol ---------------------------------------------------------------
    def reset(self) -> None:
        """Start of an episode: the network back at rest (converted: every layer's v0 at
        v_init; trained: every state variable). The first call starts Lava (compiles the
        processes and runs one decision on a zero input, discarded), so that no decision of
        an episode pays for the start-up (runtime.pacing counts latencies per decision)."""
        if self._state == "closed":
            raise RuntimeError("LavaController is closed")
        if self._state == "new":
            self._start()
        self._pause()
        for var, value in self.net.episode_start:
            var.set(np.array(np.broadcast_to(value, var.shape)))
        self._resume()

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.shape != (1, self.graph.obs_dim):
            raise ValueError(f"lava backend runs one env: expected observations of shape "
                             f"(1, {self.graph.obs_dim}), got {obs.shape}")
        if self._state == "closed":
            raise RuntimeError("LavaController is closed")
        payload, clipped = self.net.encode(obs)
        self.input_clips += int(clipped.sum())
        payload = payload[0].astype(self._dtype)
        if self.net.input_order is not None:   # a convolution reads Lava's (W, H, C) order
            payload = payload[self.net.input_order]
        if self._state == "new":   # an episode start without reset()
            self.reset()
        start = time.perf_counter()
        if self._state == "paused":
            self._resume()
        acc = self._decision(payload)
        self.latencies_s.append(time.perf_counter() - start)
        return self.net.decode(np.asarray(acc, dtype=np.float64)[None, :])

    # -- running Lava ------------------------------------------------------------------------
    def _start(self) -> None:
        """Compile and start Lava (RunContinuous) and run one discarded decision."""
        from lava.magma.core.run_conditions import RunContinuous
        lava_reaper.start()       # before Lava forks: its processes cannot outlive this one
        self._state = "running"   # before run(): an interrupt inside it must still stop Lava
        with lava_reaper.lava_children():
            self.net.host_input.run(condition=RunContinuous(), run_cfg=self.net.run_cfg)
        self._decision(np.zeros(self.graph.obs_dim, dtype=self._dtype))

    def _send(self, payload: np.ndarray) -> None:
        """One host message to HostInput: the payload and the current epoch tag."""
        message = np.append(payload, self._epoch).astype(self._dtype)
        self.net.host_input.host_in.external_pipe_csp_send_port.send(message)

    def _decision(self, payload: np.ndarray) -> np.ndarray:
        """One decision (period Lava steps) on a layer-0 payload; the readout's sum."""
        deadline = time.monotonic() + self.timeout_s
        self._send(payload)
        output = self.net.output.external_pipe_csp_recv_port
        _await([output], deadline, f"no output from Lava within {self.timeout_s:g} s (a Lava "
                                   f"process died or hung)")
        self._decisions += 1
        return output.recv()

    def _pause(self) -> None:
        """Pause Lava between two decisions. Lava pauses only after a step, and while no
        decision runs it waits inside the next decision's first step for a payload; so the
        host requests the pause, then sends a zero payload: normally Lava pauses right after
        that first step, at which every neuron process is idle (nothing changes). If the
        request is seen later, Lava runs on through that zero-input decision; each time such
        a decision ends without a pause, its output is dropped and another zero payload sent.
        _resume re-aligns the decision phase and skips a zero payload left unread, so either
        way the next decision runs exactly as if no pause had happened (a reset sets the
        network's state anyway)."""
        if self._state != "running":
            return
        paused, wake, errors = threading.Event(), threading.Event(), []

        def pause():
            try:
                self.net.host_input.pause()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(exc)
            paused.set()
            wake.set()

        threading.Thread(target=pause, daemon=True).start()
        time.sleep(PAUSE_REQUEST_S)   # let Lava's runtime service take the request first
        output = self.net.output.external_pipe_csp_recv_port
        received = 0
        deadline = time.monotonic() + self.timeout_s
        self._send(np.zeros(self.graph.obs_dim, dtype=self._dtype))
        while not paused.is_set():
            if _await_either(paused, output, wake, deadline) == "output":
                output.recv()              # a zero-input decision ended: Lava waits again
                received += 1
                self._send(np.zeros(self.graph.obs_dim, dtype=self._dtype))
        if errors:
            raise errors[0]
        self._state = "paused"
        # outputs of zero-input decisions still in the pipe: one per decision that ended
        clock = int(self.net.host_input.clock.get()[0])
        period = self.net.period
        ended = (clock - self._boundary - self._decisions * period) // period
        for _ in range(ended - received):
            _await([output], deadline, f"Lava did not pause within {self.timeout_s:g} s")
            output.recv()

    def _resume(self) -> None:
        """Resume a paused Lava at a decision's first step: every windowed process's phase
        offset set so that the next step is phase 0, zero payloads left from the pause
        skipped (a new epoch)."""
        from lava.magma.core.run_conditions import RunContinuous
        clock = int(self.net.host_input.clock.get()[0])
        offset = np.array([clock % self.net.period])
        for process in self.net.windowed:
            process.phase_offset.set(offset)
        self._epoch += 1
        self.net.host_input.epoch.set(np.array([self._epoch]))
        self._boundary, self._decisions = clock, 0
        self.net.host_input.run(condition=RunContinuous(), run_cfg=self.net.run_cfg)
        self._state = "running"

    def fixed_point_events(self) -> tuple[int, int]:
        """(saturation events counted by the Lava models, clipped input entries) so far.
        Pauses Lava (the next decision resumes it): call it between episodes."""
        if self._state == "new":
            return 0, self.input_clips
        self._pause()
        procs = [*self.net.layers, self.net.readout]
        saturations = int(sum(p.saturations.get()[0] for p in procs))
        return saturations, self.input_clips

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop Lava; if it does not pause and stop in time, kill its child processes
        (within the CLI's grace period after a signal, loihi_deploy.cli.GRACE_S)."""
        if self._state in ("new", "closed"):
            self._state = "closed"
            return
        self.timeout_s = min(self.timeout_s, timeout_s)
        try:
            self._pause()         # Lava stops from a pause (running, it waits for a payload)
            stopped = _run_bounded(self.net.host_input.stop, timeout_s)
        except Exception:  # noqa: BLE001 - a dead or failed Lava: kill it below
            stopped = False
        self._state = "closed"
        if not stopped:
            self._force_shutdown()

    def _force_shutdown(self) -> None:
        """Kill the process models, then let Lava's SharedMemoryManager unlink its segments."""
        kill_children(lambda c: type(c).__name__ == "SystemProcess")
        runtime = self.net.host_input.runtime
        smm = getattr(getattr(runtime, "_messaging_infrastructure", None), "smm", None)
        if smm is not None:
            _run_bounded(smm.shutdown, 5.0)
        kill_children(lambda c: True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


PAUSE_REQUEST_S = 0.002   # between a pause request and the zero payload that lets it happen


def _await_either(event: threading.Event, port, wake: threading.Event,
                  deadline: float) -> str:
    """Block until `event` is set ("event") or the Lava channel port `port` holds a message
    ("output"), or raise LavaTimeout at `deadline`; whoever sets `event` also sets `wake`."""
    port.observer = wake.set
    try:
        while True:
            if event.is_set():
                return "event"
            if port.probe():
                return "output"
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not wake.wait(remaining):
                raise LavaTimeout("Lava did not pause (a Lava process died or hung)")
            wake.clear()
    finally:
        port.observer = None


def _await(ports, deadline: float, message: str) -> None:
    """Block until every Lava channel port in `ports` holds a message, or raise LavaTimeout
    at `deadline` (time.monotonic()). Event-driven, no polling: a port calls its `observer`
    when a message arrives on an empty channel (the mechanism of Lava's own CspSelector)."""
    arrived = threading.Event()
    for port in ports:
        port.observer = arrived.set
    try:
        while not all(port.probe() for port in ports):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not arrived.wait(remaining):
                raise LavaTimeout(message)
            arrived.clear()
    finally:
        for port in ports:
            port.observer = None


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
