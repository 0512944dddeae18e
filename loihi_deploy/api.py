"""Python API: compile a policy, evaluate it in closed loop, sweep CRPI's alpha.

    graph = compile_policy("halfcheetah_v5_td3", "HalfCheetah-v5", timesteps=8,
                           membrane=MembranePolicy("crpi", 0.5))
    result = sweep(graph, ann, "HalfCheetah-v5", alphas=[0, 0.5, 1], episodes=20)
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import typing

import numpy as np

from loihi_deploy.compiler.calibrate import Calibration, calibrate
from loihi_deploy.compiler.convert import convert
from loihi_deploy.compiler.files import atomic_write_bytes
from loihi_deploy.compiler.frontend import load_policy, read_policy_metadata
from loihi_deploy.compiler.ir import AnnGraph, MembranePolicy, NeuronModel, SpikingGraph
from loihi_deploy.compiler.quantize import quantize
from loihi_deploy.compiler.limits import (MAX_ALPHAS, MAX_CALIB_EPISODES, MAX_EPISODES, MAX_SEED,
                                          MAX_SWEEP_ROWS, MAX_TIMESTEPS)
from loihi_deploy.options import float_in, int_in, option
from loihi_deploy.stats import mean_ci95
from loihi_deploy.zoo import resolve_policy
from loihi_deploy.runtime.envs import env_spaces
from loihi_deploy.runtime.pixels import is_pixel_env
from loihi_deploy.runtime.closed_loop import (AnnController, episode_seeds, run_episodes,
                                              run_episodes_parallel, visited_episodes)
from loihi_deploy.sim_backend.emulator import Emulator

DEFAULT_EVAL_SEED = 100  # evaluation resets use seeds 100, 101, ...; calibration uses 0, 1, ...


def load_ann(policy: str, env_id: str | None = None,
             env_kwargs: dict | None = None) -> AnnGraph:
    """A bundled policy name or a policy file, validated against the spaces of env_id made
    with env_kwargs (default: the env and env_kwargs its sidecar metadata names, if any)."""
    path = resolve_policy(policy)
    env_id, env_kwargs = policy_env(path, env_id, env_kwargs)
    return load_policy(path, env_spaces(env_id, env_kwargs) if env_id else None)


def policy_env(policy, env_id: str | None = None,
               env_kwargs: dict | None = None) -> tuple[str | None, dict]:
    """The env a policy (bundled name, file or zoo folder) is for: env_id (default: its
    metadata's, None if it names none) and env_kwargs (default: its metadata's when the ids
    agree, else {})."""
    meta = read_policy_metadata(resolve_policy(str(policy))) or {}
    env_id = env_id or meta.get("env_id")
    if env_kwargs is None:
        env_kwargs = meta.get("env_kwargs", {}) if env_id == meta.get("env_id") else {}
    return env_id, dict(env_kwargs)


def graph_env(graph: SpikingGraph, env_id: str | None = None,
              env_kwargs: dict | None = None) -> tuple[str, dict]:
    """The env to run a compiled graph in: env_id (default: the one it was compiled for) and
    env_kwargs (default: the graph's when the ids agree, else {})."""
    env_id = env_id or graph.env_id
    if env_kwargs is None:
        env_kwargs = graph.env_kwargs if env_id == graph.env_id else {}
    return env_id, dict(env_kwargs)


def parse_alphas(text: str) -> list[float]:
    """'0:1:0.1' (start:stop:step, inclusive, step > 0, start <= stop) or '0,0.3,0.6'; at most
    MAX_ALPHAS values, each in [0, 1]. The grid's size is checked before it is built."""
    def fail(why: str) -> typing.NoReturn:
        raise ValueError(f"--alphas {text[:60]!r}{'...' if len(text) > 60 else ''}: {why}")
    try:
        parts = [float(x) for x in text.split(":" if ":" in text else ",")]
    except ValueError:
        fail("expected START:STOP:STEP or a comma list of numbers")
    if not all(np.isfinite(parts)):
        fail("values must be finite")
    if ":" in text:
        if len(parts) != 3:
            fail("expected START:STOP:STEP")
        start, stop, step = parts
        if step <= 0:
            fail(f"STEP must be > 0, got {step:g}")
        if start > stop:
            fail(f"START {start:g} is above STOP {stop:g}")
        span = (stop - start) / step        # inf for a step that underflows the span
        count = int(np.floor(span + 0.5)) + 1 if np.isfinite(span) else MAX_ALPHAS + 1
        if count > MAX_ALPHAS:
            fail(f"{count} values; at most {MAX_ALPHAS} (a step of "
                 f"{(stop - start) / (MAX_ALPHAS - 1):g} or more)")
        values = np.round(start + step * np.arange(count), 6).tolist()
    else:
        values = parts
        if len(values) > MAX_ALPHAS:
            fail(f"{len(values)} values; at most {MAX_ALPHAS}")
    if any(not 0 <= a <= 1 for a in values):
        fail(f"values must lie in [0, 1], got {values}")
    return values


def levels_arg(text: str) -> int:
    """--levels: MT / DC threshold levels, 1..MAX_LEVELS."""
    from loihi_deploy.compiler.ir import MAX_LEVELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LEVELS:
        raise argparse.ArgumentTypeError(
            f"expected an integer in [1, {MAX_LEVELS}], got {text!r} (in Loihi fixed point "
            f"the smallest level theta >> (levels-1) is exact only up to {MAX_LEVELS} levels)")
    return value


@dataclasses.dataclass(frozen=True)
class CompileOptions:
    """How a policy is calibrated and converted: the options of `compile` and `sweep`, and the
    defaults of compile_policy and calibrate_policy."""
    timesteps: int = option(8, short="-T", type=int_in(1, MAX_TIMESTEPS),
                            help="internal SNN steps per decision")
    calib_episodes: int = option(50, type=int_in(1, MAX_CALIB_EPISODES),
                                 help="ANN episodes recorded for the thresholds")
    calib_seed: int = option(0, type=int_in(0, MAX_SEED - MAX_CALIB_EPISODES),
                             help="reset seed of the first calibration episode")
    calib_method: str = option("episode-max", choices=["episode-max", "max", "percentile"],
                               help="per-neuron threshold: episode-max = a percentile of the "
                                    "calibration episodes' maxima (insensitive to the "
                                    "calibration seed, docs/calibration.md), max = the maximum "
                                    "over all states (the paper's; use --calib-episodes 10 to "
                                    "reproduce it), percentile = a percentile of all states")
    percentile: float | None = option(None, type=float_in(0.0, 100.0),
                                      help="the percentile of episode-max (default 90) or of "
                                           "--calib-method percentile (default 99.99)")
    neuron: str = option("if", choices=["if", "snm", "mt", "dc", "dc-if", "cuba"],
                         help="neuron model: if (the paper's IF), snm (signed, with memory), mt "
                              "(multi-threshold), dc (differential coding on MT), dc-if "
                              "(differential coding on signed IF), cuba (Loihi's stock neuron, "
                              "hard reset: what `export --format netx` can carry)")
    levels: int = option(4, type=levels_arg,
                         help="MT / DC threshold levels theta/2**i, 1..7")


COMPILE_DEFAULTS = CompileOptions()


def calibrate_policy(ann: AnnGraph, env_id: str,
                     episodes: int = COMPILE_DEFAULTS.calib_episodes,
                     seed: int = COMPILE_DEFAULTS.calib_seed,
                     method: str = COMPILE_DEFAULTS.calib_method,
                     percentile: float | None = COMPILE_DEFAULTS.percentile,
                     progress: bool = False, env_kwargs: dict | None = None) -> Calibration:
    """Run the ANN in closed loop (reset seeds seed..seed+episodes-1), record the states it
    visits, and calibrate the thresholds on them (compiler.calibrate)."""
    env_kwargs = dict(env_kwargs or {})
    states, lengths = visited_episodes(AnnController(ann), env_id, episodes, seed, progress,
                                       env_kwargs)
    return calibrate(ann, states, method, percentile,
                     {"env_id": env_id, "env_kwargs": env_kwargs, "episodes": episodes,
                      "seed": seed}, lengths)


def compile_policy(ann: AnnGraph, env_id: str, timesteps: int = COMPILE_DEFAULTS.timesteps,
                   membrane: MembranePolicy | str = MembranePolicy(),
                   calib_episodes: int = COMPILE_DEFAULTS.calib_episodes,
                   calib_seed: int = COMPILE_DEFAULTS.calib_seed,
                   calib_method: str = COMPILE_DEFAULTS.calib_method,
                   percentile: float | None = COMPILE_DEFAULTS.percentile,
                   profile: str = "float", progress: bool = False,
                   neuron: NeuronModel | str = NeuronModel(),
                   env_kwargs: dict | None = None,
                   weight_bits: int | None = None) -> SpikingGraph:
    """Frontend output -> calibrated, converted SpikingGraph; profile "fixed" adds the Loihi
    fixed-point numbers (compiler.quantize; weight_bits 16 splits each Dense layer's weights
    across two 8-bit Dense processes, 8 keeps one, None: 16, 8 for the stock neuron cuba).
    membrane and neuron also take the CLI's strings ("crpi:0.6", "mt:4"). env_kwargs:
    gym.make keyword arguments, stored in the graph."""
    if isinstance(membrane, str):
        membrane = MembranePolicy.parse(membrane)
    if isinstance(neuron, str):
        neuron = NeuronModel.parse(neuron)
    if profile not in ("float", "fixed"):
        raise ValueError(f"profile must be 'float' or 'fixed', got {profile!r}")
    check_count("timesteps T", timesteps, MAX_TIMESTEPS)
    check_count("calibration episodes", calib_episodes, MAX_CALIB_EPISODES)
    cal = calibrate_policy(ann, env_id, calib_episodes, calib_seed, calib_method, percentile,
                           progress, env_kwargs)
    graph = convert(ann, cal, timesteps, membrane, env_id, neuron, env_kwargs)
    if profile == "fixed":   # pixels (0..255) travel as they are: integer payloads
        graph = quantize(graph, np.asarray(cal.info["obs_absmax"]),
                         integer_input_max=255 if is_pixel_env(env_id) else None,
                         weight_bits=weight_bits)
    return graph


def check_count(what: str, value: int, limit: int) -> None:
    """ValueError unless 1 <= value <= limit (compiler.limits; docs/reliability.md)."""
    if not isinstance(value, (int, np.integer)) or not 1 <= value <= limit:
        raise ValueError(f"{what} must be an integer in [1, {limit}], got {value!r}")


def evaluate_ann(ann: AnnGraph, env_id: str, episodes: int, seed: int = DEFAULT_EVAL_SEED,
                 progress: bool = False, env_kwargs: dict | None = None) -> np.ndarray:
    check_count("episodes", episodes, MAX_EPISODES)
    return run_episodes(AnnController(ann), env_id, episode_seeds(seed, episodes),
                        progress="ANN" if progress else False, env_kwargs=env_kwargs).returns


@dataclasses.dataclass
class BackendRun:
    """Per-episode returns of one backend, with per-decision latency and fixed-point events."""
    backend: str
    profile: str
    returns: np.ndarray
    lengths: np.ndarray
    latencies_s: list[float]
    saturations: int
    input_clips: int
    deadline_misses: int | None = None
    period_s: float | None = None
    errors: list | None = None      # per episode: None, or why its env failed (partial)
    interrupted: bool = False       # Ctrl-C / SIGTERM: only the episodes finished before it


def run_backend(graph: SpikingGraph, env_id: str | None, episodes: int,
                seed: int = DEFAULT_EVAL_SEED,
                backend: str = "emulator", profile: str | None = None, pace: bool = False,
                progress: bool = False, nan_policy: str = "raise",
                env_kwargs: dict | None = None, max_steps: int | None = None) -> BackendRun:
    """Closed-loop episodes on the emulator (all episodes in one batch), on Lava (one env at a
    time, the same processes a chip would run) or on Loihi (when lava-loihi and a board exist).
    pace: one decision per env control period, deadline misses counted (runtime.pacing).
    env_id / env_kwargs None: the env the graph was compiled for (graph_env). max_steps:
    decisions per episode at most (default: the env's time limit)."""
    env_id, env_kwargs = graph_env(graph, env_id, env_kwargs)
    import time

    from loihi_deploy.runtime.lava_bridge import BACKENDS, LavaController, loihi_available
    from loihi_deploy.runtime.pacing import PacedController, control_period_s, pacing_note
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    check_count("episodes", episodes, MAX_EPISODES)
    if backend == "loihi":
        available, reason = loihi_available()
        if not available:
            raise RuntimeError(reason)
    profile = profile or graph.profile
    seeds = episode_seeds(seed, episodes)
    period = None
    if pace:
        period, decisions = control_period_s(env_id, env_kwargs)
        if progress:
            print(pacing_note(period, max_steps or decisions, episodes), file=sys.stderr)
    if backend == "emulator" and not pace:
        emu = Emulator(graph, episodes, profile=profile)
        start = time.perf_counter()
        rollout = run_episodes(emu, env_id, seeds, progress=f"emulator {profile}" if progress
                               else False, nan_policy=nan_policy, env_kwargs=env_kwargs,
                               max_steps=max_steps)
        per_decision = (time.perf_counter() - start) / max(int(rollout.lengths.max()), 1)
        return BackendRun(backend, profile, rollout.returns, rollout.lengths, [per_decision],
                          *emu.fixed_point_events(), errors=rollout.errors)
    returns, lengths, latencies, saturations, clips, misses, errors = [], [], [], 0, 0, 0, []
    interrupted = False
    for s in seeds:  # one env at a time: what a chip in the loop does
        inner = Emulator(graph, 1, profile=profile) if backend == "emulator" else \
            LavaController(graph, profile)
        controller = PacedController(inner, period) if pace else inner
        try:
            rollout = run_episodes(controller, env_id, [s], nan_policy=nan_policy,
                                   env_kwargs=env_kwargs, max_steps=max_steps,
                                   progress=f"{backend} {profile} seed {s}" if progress else False)
            events = inner.fixed_point_events()
        except KeyboardInterrupt:  # keep the finished episodes, marked as an interrupted run
            interrupted = True
            break
        finally:
            if backend != "emulator":
                inner.close()
        saturations, clips = saturations + events[0], clips + events[1]
        latencies += list(controller.latencies_s)
        misses += controller.misses if pace else 0
        returns.append(rollout.returns[0])
        lengths.append(rollout.lengths[0])
        errors.append(rollout.errors[0])
    return BackendRun(backend, profile, np.array(returns), np.array(lengths), latencies,
                      saturations, clips, misses if pace else None, period, errors, interrupted)


@dataclasses.dataclass
class Verification:
    """One closed-loop episode on Lava and on the emulator, from the same reset seed."""
    profile: str
    decisions: int
    identical: bool
    max_abs_diff: float
    first_difference: int | None   # decision index of the first differing action
    lava_latency_ms_median: float
    lava_return: float
    emulator_return: float


class _CountingEmulator(Emulator):
    """Emulator that logs, per decision and row, hidden events and synaptic ops."""

    def __init__(self, graph: SpikingGraph, batch_size: int, fan_outs, **kwargs):
        super().__init__(graph, batch_size, **kwargs)
        self.fan_outs = fan_outs
        self.events_log, self.sops_log, self.input_log = [], [], []

    def act(self, obs):
        actions = super().act(obs)
        # every event (and non-zero observation payload) reaches each out-going synapse
        counts = self.last_event_counts     # counted from the decision's codes when read
        self.events_log.append([c.sum(axis=1) for c in counts])
        self.sops_log.append(sum(c @ f for c, f in zip(counts, self.fan_outs[1:])))
        self.input_log.append((obs != 0) @ self.fan_outs[0])
        return actions


def measure_decision_cost(graph: SpikingGraph, seeds, env_id: str | None = None,
                          alpha: float | None = None, profile: str | None = None,
                          env_kwargs: dict | None = None, max_steps: int | None = None):
    """Events and synaptic ops per decision, counted on the emulator over closed-loop
    episodes (one row per seed, counted while its episode runs), and the energy estimate
    (compiler.hardware.decision_energy)."""
    from loihi_deploy.compiler.hardware import decision_energy, synaptic_fan_outs
    env_id, env_kwargs = graph_env(graph, env_id, env_kwargs)
    emulator = _CountingEmulator(graph, len(seeds), synaptic_fan_outs(graph), alpha=alpha,
                                 profile=profile)
    lengths = run_episodes(emulator, env_id, list(seeds), env_kwargs=env_kwargs,
                           max_steps=max_steps).lengths
    events = np.array(emulator.events_log)                        # (K, layers, B)
    alive = np.arange(len(events))[:, None] < lengths[None, :]    # (K, B)
    per_layer = (events * alive[:, None, :]).sum(axis=(0, 2)) / alive.sum()
    input_steps = 1 if graph.neuron.coding == "differential" else graph.timesteps
    input_ops = input_steps * float((np.array(emulator.input_log) * alive).sum() / alive.sum())
    sops = float((np.array(emulator.sops_log) * alive).sum() / alive.sum()) + input_ops
    return decision_energy(graph, per_layer, sops, input_ops), int(alive.sum())


def verify_on_lava(graph: SpikingGraph, env_id: str | None = None, decisions: int = 200,
                   seed: int = DEFAULT_EVAL_SEED, profile: str | None = None,
                   progress: bool = False, netx: str | None = None,
                   env_kwargs: dict | None = None) -> Verification:
    """Run the same episode on Lava (Loihi2SimCfg) and on the emulator and compare actions.
    Fixed point must match bit for bit; float too, with Lava's summation order.
    netx: a lava-dl netx file exported from `graph` (compiler.export_netx), run through
    lava-dl's reader instead of loihi-deploy's own processes (fixed point)."""
    from loihi_deploy.runtime.lava_bridge import LavaController
    from loihi_deploy.runtime.netx_runner import NetxController
    env_id, env_kwargs = graph_env(graph, env_id, env_kwargs)
    profile = "fixed" if netx else profile or graph.profile
    controller = NetxController(netx, graph) if netx else LavaController(graph, profile)
    with controller as lava:
        on_lava = run_episodes(lava, env_id, [seed], max_steps=decisions, record=True,
                               progress=f"Lava {profile}" if progress else False,
                               env_kwargs=env_kwargs)
        latency_ms = 1e3 * float(np.median(lava.latencies_s))
    on_emulator = run_episodes(Emulator(graph, 1, profile=profile, sum_order="lava"), env_id,
                               [seed], max_steps=decisions, record=True,
                               env_kwargs=env_kwargs)
    a, b = on_lava.actions, on_emulator.actions
    same_shape = a.shape == b.shape
    diff = np.abs(a - b).max(axis=-1)[0] if same_shape else np.array([np.inf])
    differing = np.flatnonzero(diff > 0)
    return Verification(profile, int(on_lava.lengths[0]), bool(same_shape and not differing.size),
                        float(diff.max()), int(differing[0]) if differing.size else None,
                        latency_ms, float(on_lava.returns[0]), float(on_emulator.returns[0]))


TEST_SEED_OFFSET = 10_000   # held-out test episodes start at seed + 10000 (MAX_EPISODES <= 1000)


@dataclasses.dataclass
class HeldOut:
    """The alpha a sweep selected (highest mean on its selection episodes), run again with
    vanilla and the ANN on fresh test episodes (reset seeds seed, seed+1, ...): the numbers
    to report for it (docs/reproducibility.md, "honest selection")."""
    alpha: float
    seed: int
    ann_returns: np.ndarray        # (test episodes,)
    vanilla_returns: np.ndarray
    selected_returns: np.ndarray

    def delta(self) -> tuple[float, float]:
        """Paired mean difference selected - vanilla and its 95% CI half-width."""
        return mean_ci95(self.selected_returns - self.vanilla_returns)

    @property
    def better(self) -> bool:
        """The selected alpha beats vanilla on the test episodes: the paired 95% CI of the
        difference lies above 0."""
        mean, ci = self.delta()
        return bool(self.alpha != 0.0 and mean - ci > 0)

    def to_json(self) -> dict:
        mean, ci = self.delta()
        return {"alpha": self.alpha, "episodes": len(self.selected_returns),
                "reset_seeds": [self.seed, self.seed + len(self.selected_returns) - 1],
                **{k: dict(zip(("mean", "ci95"), mean_ci95(r)), returns=r.round(3).tolist())
                   for k, r in (("ann", self.ann_returns), ("vanilla", self.vanilla_returns),
                                ("selected", self.selected_returns))},
                "delta_vs_vanilla": {"mean": mean, "ci95": ci}, "better": self.better}


@dataclasses.dataclass
class SweepResult:
    env_id: str
    timesteps: int
    episodes: int
    seed: int
    alphas: list[float]
    ann_returns: np.ndarray        # (episodes,)
    snn_returns: np.ndarray        # (len(alphas), episodes); alpha 0 = vanilla
    neuron: str = "if"
    held_out: HeldOut | None = None

    def delta_vs_vanilla(self, i: int) -> tuple[float, float] | None:
        """Paired (same reset seeds) mean difference to alpha 0 and its 95% CI half-width."""
        if 0.0 not in self.alphas:
            return None
        return mean_ci95(self.snn_returns[i] - self.snn_returns[self.alphas.index(0.0)])

    @property
    def selected_index(self) -> int:
        """The row with the highest mean on the selection episodes (overstated there: report
        held_out for it)."""
        return int(np.argmax(self.snn_returns.mean(axis=1)))

    def to_json(self) -> dict:
        ann_mean, ann_ci = mean_ci95(self.ann_returns)
        rows = []
        for i, (alpha, returns) in enumerate(zip(self.alphas, self.snn_returns)):
            mean, ci = mean_ci95(returns)
            delta = self.delta_vs_vanilla(i)
            rows.append({"alpha": alpha, "mean": mean, "ci95": ci,
                         "ratio_to_ann": mean / ann_mean if ann_mean else None,
                         "delta_vs_vanilla": delta and {"mean": delta[0], "ci95": delta[1]},
                         "returns": returns.round(3).tolist()})
        return {"env_id": self.env_id, "timesteps": self.timesteps, "neuron": self.neuron,
                "episodes": self.episodes,
                "reset_seeds": [self.seed, self.seed + self.episodes - 1],
                "ann": {"mean": ann_mean, "ci95": ann_ci,
                        "returns": self.ann_returns.round(3).tolist()},
                "snn": rows, "selected_alpha": self.alphas[self.selected_index],
                "held_out": self.held_out.to_json() if self.held_out else None}


def sweep(graph: SpikingGraph, ann: AnnGraph, env_id: str, alphas, episodes: int,
          seed: int = DEFAULT_EVAL_SEED, progress: bool = False,
          workers: int | None = None, ann_returns: np.ndarray | None = None,
          ray_address: str | None = None, env_kwargs: dict | None = None,
          test_episodes: int = 0, precision: str = "float64") -> SweepResult:
    """ANN and SNN(alpha) for every alpha, all on the same (selection) episode seeds: the
    alpha x episode rows run as emulator batches split across `workers` processes (default:
    one per core), or across a Ray cluster (ray_address; runtime.closed_loop.
    run_episodes_parallel). test_episodes > 0: the alpha with the highest selection mean is
    run again with vanilla and the ANN on as many fresh episodes (reset seeds from seed +
    TEST_SEED_OFFSET): SweepResult.held_out, the numbers to report for the selected alpha.
    ann_returns: the ANN's returns on the selection seeds, if already known (not re-run).
    env_kwargs None: the graph's when env_id is the one it was compiled for (graph_env).
    precision: the emulator's float precision (float64, or float32 as the paper's code)."""
    alphas = [float(a) for a in alphas]
    check_count("episodes", episodes, MAX_EPISODES)
    check_count("alphas x episodes", len(alphas) * episodes, MAX_SWEEP_ROWS)
    env_id, env_kwargs = graph_env(graph, env_id, env_kwargs)
    if ann_returns is None:
        ann_returns = evaluate_ann(ann, env_id, episodes, seed, progress, env_kwargs)
    crpi = graph.replace(membrane=MembranePolicy("crpi", 0.0, graph.membrane.clip))
    row_alpha = np.repeat(alphas, episodes)
    seeds = np.tile(episode_seeds(seed, episodes), len(alphas))
    label = f"{graph.neuron} T={graph.timesteps} x {len(alphas)} alphas" if progress else False
    snn = run_episodes_parallel(lambda rows: Emulator(crpi, len(rows), alpha=row_alpha[rows],
                                                      precision=precision),
                                env_id, seeds, workers=workers, progress=label,
                                ray_address=ray_address, env_kwargs=env_kwargs).returns
    result = SweepResult(env_id, graph.timesteps, episodes, seed, alphas, ann_returns,
                         snn.reshape(len(alphas), episodes), str(graph.neuron))
    if test_episodes:
        check_count("test episodes", test_episodes, MAX_EPISODES)
        selected = alphas[result.selected_index]
        test_seed = seed + TEST_SEED_OFFSET
        test_alpha = np.repeat([0.0, selected], test_episodes)
        pair = run_episodes_parallel(
            lambda rows: Emulator(crpi, len(rows), alpha=test_alpha[rows],
                                  precision=precision), env_id,
            np.tile(episode_seeds(test_seed, test_episodes), 2), workers=workers,
            progress=f"held-out test a={selected:g}" if progress else False,
            ray_address=ray_address, env_kwargs=env_kwargs).returns
        result.held_out = HeldOut(selected, test_seed,
                                  evaluate_ann(ann, env_id, test_episodes, test_seed, progress,
                                               env_kwargs),
                                  pair[:test_episodes], pair[test_episodes:])
    return result


def format_sweep_table(result: SweepResult) -> str:
    ann_mean, ann_ci = mean_ci95(result.ann_returns)
    lines = [f"{result.env_id}  {result.neuron.upper()}  T={result.timesteps}  "
             f"{result.episodes} selection episodes per row "
             f"(reset seeds {result.seed}..{result.seed + result.episodes - 1})",
             f"{'policy':<16}{'return':>12}{'95% CI':>11}{'vs ANN':>9}"
             f"{'paired diff ± 95% CI':>26}",
             f"{'ANN':<16}{ann_mean:>12.1f}{ann_ci:>11.1f}{'100.0%':>9}"]
    best = result.selected_index
    for i, (alpha, returns) in enumerate(zip(result.alphas, result.snn_returns)):
        mean, ci = mean_ci95(returns)
        name = "SNN vanilla" if alpha == 0 else f"SNN CRPI a={alpha:g}"
        mark = "  <- selected" if i == best and len(result.alphas) > 1 else ""
        delta = result.delta_vs_vanilla(i)
        delta_text = f"{delta[0]:+.1f} ± {delta[1]:.1f}" if delta and alpha != 0 else ""
        lines.append(f"{name:<16}{mean:>12.1f}{ci:>11.1f}{100 * mean / ann_mean:>8.1f}%"
                     f"{delta_text:>26}{mark}")
    held = result.held_out
    if held is None:
        if len(result.alphas) > 1:
            lines.append("(selected: the highest mean on these episodes, which overstates it; "
                         "--test-episodes re-runs it on fresh episodes)")
        return "\n".join(lines)
    n = len(held.selected_returns)
    (ann_m, ann_c), (van_m, van_c), (sel_m, sel_c) = (
        mean_ci95(r) for r in (held.ann_returns, held.vanilla_returns, held.selected_returns))
    diff, diff_ci = held.delta()
    lines += ["", f"held-out test: the selected alpha on {n} fresh episodes (reset seeds "
                  f"{held.seed}..{held.seed + n - 1}):",
              f"{'ANN':<16}{ann_m:>12.1f}{ann_c:>11.1f}{'100.0%':>9}",
              f"{'SNN vanilla':<16}{van_m:>12.1f}{van_c:>11.1f}{100 * van_m / ann_m:>8.1f}%"]
    if held.alpha != 0.0:
        name = f"SNN CRPI a={held.alpha:g}"
        lines.append(f"{name:<16}{sel_m:>12.1f}{sel_c:>11.1f}{100 * sel_m / ann_m:>8.1f}%"
                     f"{f'{diff:+.1f} ± {diff_ci:.1f}':>26}"
                     + ("  <- better than vanilla" if held.better else ""))
    lines.append(f"CRPI a={held.alpha:g} beats vanilla on the test episodes (paired 95% CI "
                 f"above 0)" if held.better else "on the test episodes no alpha is shown better "
                 "than vanilla: the paired 95% CI of the difference contains 0"
                 if held.alpha != 0.0 else "vanilla had the highest selection mean")
    return "\n".join(lines)


def save_figure(fig, path) -> None:
    """A matplotlib figure as PNG, written atomically; the figure is closed."""
    import io

    import matplotlib.pyplot as plt
    png = io.BytesIO()
    try:
        fig.savefig(png, format="png")
    finally:
        plt.close(fig)
    atomic_write_bytes(path, png.getvalue())


def plot_sweep(result: SweepResult, path) -> None:
    """PNG: SNN return vs alpha with 95% CIs; the ANN as a line with its CI band."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    stats = [mean_ci95(r) for r in result.snn_returns]
    ann_mean, ann_ci = mean_ci95(result.ann_returns)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.axhline(ann_mean, color="k", lw=1, label="ANN")
    if np.isfinite(ann_ci):
        ax.axhspan(ann_mean - ann_ci, ann_mean + ann_ci, color="k", alpha=0.1)
    ax.errorbar(result.alphas, [s[0] for s in stats], yerr=[s[1] for s in stats], marker="o",
                capsize=3, label=f"SNN ({result.neuron.upper()}, T={result.timesteps})")
    ax.set_xlabel("CRPI alpha (0 = vanilla)")
    ax.set_ylabel(f"return ({result.episodes} episodes, mean ± 95% CI)")
    ax.set_title(result.env_id)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
