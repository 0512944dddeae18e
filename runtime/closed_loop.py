"""Closed-loop runner: a batch of gymnasium envs driven by one batched controller.

Row b of the batch runs exactly one episode, in its own env, reset with seed `seeds[b]`.
Every decision the controller maps the (B, obs_dim) observations to (B, act_dim) actions;
rows whose episode has ended keep being fed their last observation and their actions are
ignored. This is how episodes x alpha values run as one batch through the emulator.

A controller is any object with
    reset() -> None                      start of the episodes (all rows)
    act(obs: (B, obs_dim) float64) -> (B, act_dim) float64 actions in the env's units
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import threading
import time
from typing import Callable, Protocol

import numpy as np
from tqdm.auto import tqdm

from loihi_deploy.runtime.envs import make_env
from loihi_deploy.runtime.pixels import is_pixel_env


class Controller(Protocol):
    def reset(self) -> None: ...
    def act(self, obs: np.ndarray) -> np.ndarray: ...


@dataclasses.dataclass
class Rollout:
    """Returns (B,), lengths (B,) in decisions (env steps; steps / action repeat for pixel and
    '-repeat2' envs); obs/actions (B, steps, dim) when recorded (obs in the env's dtype: the
    observations the controller acted on) and last_observations, the one after the last step.
    errors[b] is None, or the message of the exception row b's env raised: that episode
    stopped there and its return and length are partial."""
    returns: np.ndarray
    lengths: np.ndarray
    observations: np.ndarray | None = None
    actions: np.ndarray | None = None
    errors: list | None = None
    last_observations: np.ndarray | None = None   # (B, dim) after each row's last step

    @property
    def failed(self) -> np.ndarray:
        return np.array([e is not None for e in (self.errors or [None] * len(self.returns))])


def visited_states(controller: "Controller", env_id: str, episodes: int, seed: int,
                   progress: bool = False, env_kwargs: dict | None = None) -> np.ndarray:
    """(N, obs_dim) every observation `controller` acted on over `episodes` episodes (reset
    seeds seed, seed+1, ...): the calibration data of compiler.calibrate."""
    return visited_episodes(controller, env_id, episodes, seed, progress, env_kwargs)[0]


def visited_episodes(controller: "Controller", env_id: str, episodes: int, seed: int,
                     progress: bool = False,
                     env_kwargs: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """visited_states, and (episodes,) how many of them each episode holds, in order."""
    rollout = run_episodes(controller, env_id, seed + np.arange(episodes), record=True,
                           progress="calibrate" if progress else False, env_kwargs=env_kwargs)
    states = [rollout.observations[b, :n] for b, n in enumerate(rollout.lengths)]
    return np.concatenate(states), np.array([len(s) for s in states])


class NonFiniteObservation(ValueError):
    pass


STOP = threading.Event()
"""Set by the CLI's SIGINT/SIGTERM handler: every run loop raises KeyboardInterrupt at its next
decision, even if the first KeyboardInterrupt landed in library code that swallowed it."""


def run_episodes(controller: Controller, env_id: str, seeds, *, max_steps: int | None = None,
                 record: bool = False, progress: bool | str = False,
                 nan_policy: str = "raise", env_kwargs: dict | None = None) -> Rollout:
    """Run one episode per seed in lock-step; see the module docstring. The envs are
    make_env(env_id, env_kwargs) (gymnasium keyword arguments, e.g. Ant-v5 variants).

    nan_policy: "raise" (default) stops with NonFiniteObservation naming the row and step;
    "zero" replaces non-finite observation entries by 0.
    An env that raises ends only its own episode: the row is marked in Rollout.errors and
    keeps its partial return; the other rows run on.
    """
    if nan_policy not in ("raise", "zero"):
        raise ValueError(f"nan_policy must be 'raise' or 'zero', got {nan_policy!r}")
    seeds = [int(s) for s in seeds]
    envs = [make_env(env_id, env_kwargs) for _ in seeds]
    try:
        horizon = max_steps or decisions_per_episode(envs[0])
        obs = np.stack([env.reset(seed=s)[0] for env, s in zip(envs, seeds)]).astype(np.float64)
        batch = len(envs)
        returns = np.zeros(batch)
        lengths = np.zeros(batch, dtype=np.int64)
        active = np.ones(batch, dtype=bool)
        errors: list = [None] * batch
        obs_log, act_log = [], []
        controller.reset()
        label = progress if isinstance(progress, str) else env_id
        bar = tqdm(total=horizon, desc=label, disable=not progress, leave=False, unit="step")
        for step in range(horizon):
            if STOP.is_set():
                raise KeyboardInterrupt("stop requested")
            bad = ~np.isfinite(obs)
            if bad.any():
                if nan_policy == "raise":
                    row = int(np.argwhere(bad)[0, 0])
                    raise NonFiniteObservation(
                        f"{env_id}: non-finite observation in row {row} (seed {seeds[row]}) at "
                        f"step {step}; pass nan_policy='zero' to replace such entries by 0")
                obs = np.where(bad, 0.0, obs)
            actions = np.asarray(controller.act(obs), dtype=np.float64)
            if record:  # in the env's own dtype (uint8 for pixels: 8x less memory)
                obs_log.append(obs.astype(envs[0].observation_space.dtype))
                act_log.append(actions.copy())
            for b in np.flatnonzero(active):
                try:
                    o, r, terminated, truncated, _ = envs[b].step(actions[b])
                except Exception as exc:  # noqa: BLE001 - this episode ends, marked
                    errors[b] = f"step {step}: {type(exc).__name__}: {exc}"
                    active[b] = False
                    continue
                obs[b] = o
                returns[b] += r
                lengths[b] += 1
                if terminated or truncated:
                    active[b] = False
            bar.update(1)
            if not active.any():
                break
        bar.close()
    finally:
        for env in envs:
            env.close()
    if record:
        return Rollout(returns, lengths, np.stack(obs_log, 1), np.stack(act_log, 1), errors,
                       obs.astype(envs[0].observation_space.dtype))
    return Rollout(returns, lengths, errors=errors)


def decisions_per_episode(env) -> int:
    """The env's time limit in decisions (env steps / action repeat of a pixel env)."""
    steps = env.spec.max_episode_steps or 1000
    return -(-steps // getattr(env, "action_repeat", 1))


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def run_episodes_parallel(make_controller: Callable[[np.ndarray], Controller], env_id: str,
                          seeds, *, workers: int | None = None, max_steps: int | None = None,
                          progress: bool | str = False, timeout_s: float = 3600.0,
                          ray_address: str | None = None,
                          env_kwargs: dict | None = None) -> Rollout:
    """run_episodes over the rows split across worker processes (one BLAS thread each), or
    across a Ray cluster's workers when ray_address is given ("local": Ray's local mode, one
    process, for tests; "auto" or "HOST:PORT": an existing cluster).

    make_controller(rows) builds the controller of the rows (an index array) in the worker.
    Results are identical to one run_episodes call for the fixed profile, and for float up to
    BLAS rounding (batch size changes the summation blocking).
    """
    seeds = np.asarray([int(s) for s in seeds])
    if ray_address:
        return _run_on_ray(make_controller, env_id, seeds, workers, max_steps, progress,
                           ray_address, env_kwargs)
    workers = min(workers or default_workers(), len(seeds))
    if is_pixel_env(env_id):
        # forked workers hang creating their EGL context once the parent has rendered (the
        # calibration did), so pixel envs run in this process
        workers = 1
    if workers <= 1:   # one BLAS / OpenMP thread, as in the workers: an oversubscribed
        from threadpoolctl import threadpool_limits    # BLAS thread pool runs ~50x slower
        with threadpool_limits(1):
            return run_episodes(make_controller(np.arange(len(seeds))), env_id, seeds,
                                max_steps=max_steps, progress=progress, env_kwargs=env_kwargs)
    ctx = multiprocessing.get_context("fork")
    chunks = np.array_split(np.arange(len(seeds)), workers)
    steps_done = ctx.Value("q", 0)
    pipes, procs = [], []
    for rows in chunks:
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(make_controller, env_id, env_kwargs, seeds,
                                                 rows, max_steps, sender, steps_done),
                           daemon=True)
        proc.start()
        sender.close()
        pipes.append(receiver)
        procs.append(proc)
    label = progress if isinstance(progress, str) else env_id
    bar = tqdm(total=None, desc=f"{label} ({workers} processes)", disable=not progress,
               leave=False, unit="env step")
    deadline = time.monotonic() + timeout_s
    parts: list = [None] * workers
    try:
        while any(p is None for p in parts):
            for k, pipe in enumerate(pipes):
                if parts[k] is None and pipe.poll(0.2):
                    parts[k] = pipe.recv()
                    if isinstance(parts[k], BaseException):
                        raise RuntimeError(f"sweep worker {k} failed: {parts[k]!r}")
            bar.n = steps_done.value
            bar.refresh()
            dead = [k for k, proc in enumerate(procs) if parts[k] is None and not proc.is_alive()
                    and not pipes[k].poll()]
            if dead:
                raise RuntimeError(f"sweep worker(s) {dead} died without a result")
            if time.monotonic() > deadline:
                raise RuntimeError(f"sweep workers did not finish within {timeout_s:g} s")
    finally:
        bar.close()
        for proc in procs:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
    return Rollout(np.concatenate([r.returns for r in parts]),
                   np.concatenate([r.lengths for r in parts]),
                   errors=[e for r in parts for e in r.errors])


def _run_on_ray(make_controller, env_id, seeds, workers, max_steps, progress,
                ray_address: str, env_kwargs: dict | None) -> Rollout:
    """One Ray task per chunk of rows; needs `pip install ray` (the `cluster` extra)."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("--ray needs Ray: pip install 'loihi-deploy[cluster]' (ray 2.40, the "
                           "last release with local mode)") from None
    if not ray.is_initialized():
        if ray_address == "local":
            ray.init(local_mode=True, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=ray_address, include_dashboard=False, log_to_driver=False)
    workers = min(workers or int(ray.cluster_resources().get("CPU", 1)), len(seeds))
    chunks = np.array_split(np.arange(len(seeds)), workers)

    @ray.remote(num_cpus=1)
    def chunk(rows):
        from threadpoolctl import threadpool_limits
        with threadpool_limits(1):
            return run_episodes(make_controller(rows), env_id, seeds[rows], max_steps=max_steps,
                                env_kwargs=env_kwargs)
    pending = [chunk.remote(rows) for rows in chunks]
    bar = tqdm(total=len(chunks), desc=f"{progress if isinstance(progress, str) else env_id} "
               f"(Ray, {workers} tasks)", disable=not progress, leave=False, unit="task")
    try:
        parts = []
        for ref in pending:
            parts.append(ray.get(ref))
            bar.update(1)
    finally:
        bar.close()
    return Rollout(np.concatenate([r.returns for r in parts]),
                   np.concatenate([r.lengths for r in parts]),
                   errors=[e for r in parts for e in r.errors])


def _worker(make_controller, env_id, env_kwargs, seeds, rows, max_steps, sender,
            steps_done) -> None:
    from threadpoolctl import threadpool_limits
    try:
        with threadpool_limits(1):
            controller = _Counting(make_controller(rows), steps_done)
            sender.send(run_episodes(controller, env_id, seeds[rows], max_steps=max_steps,
                                     env_kwargs=env_kwargs))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        sender.send(RuntimeError(f"{type(exc).__name__}: {exc}"))
    finally:
        sender.close()


class _Counting:
    """Counts decisions x rows into a shared value (the parent's progress bar)."""

    def __init__(self, inner, counter):
        self.inner, self.counter = inner, counter

    def reset(self) -> None:
        self.inner.reset()

    def act(self, obs: np.ndarray) -> np.ndarray:
        with self.counter.get_lock():
            self.counter.value += len(obs)
        return self.inner.act(obs)


class AnnController:
    """The source ANN as a controller (stateless)."""

    def __init__(self, graph):
        self.graph = graph

    def reset(self) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.graph.forward(obs)


def episode_seeds(seed: int, episodes: int) -> np.ndarray:
    """Env reset seeds of evaluation episodes 0..episodes-1 (shared by every policy compared)."""
    return seed + np.arange(episodes)
