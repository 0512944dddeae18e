"""Simulator performance: the batched emulator vs Lava's CPU simulation vs a per-sample torch
loop in the official code's style, on the same networks, timed side by side in one run.

official_style_sweep  transcribes the structure of the paper's MuJoCo/convert.py: torch
                      float32, batch 1, a Python loop over T, one env and one alpha at a time,
                      neuron state held in modules (IF + CRPI).
sweep_speed           a full alpha x episode sweep (MuJoCo stepping included) by each method.
lava_speed            open-loop replay of recorded observations: emulator batch B vs Lava one
                      decision at a time (what a chip in the loop does), and Lava's latency.
scaling               emulator (and torch loop) time per decision per sample on synthetic
                      networks, against batch size, T and width (no env: the network alone).
"""
from __future__ import annotations

import time

import numpy as np

from loihi_deploy.compiler.ir import (ActionHead, AnnGraph, Dense, MembranePolicy,
                                      SpikingGraph, SpikingLayer)
from loihi_deploy.runtime.closed_loop import (AnnController, default_workers, episode_seeds,
                                              run_episodes, run_episodes_parallel)
from loihi_deploy.runtime.envs import make_env
from loihi_deploy.sim_backend.emulator import Emulator


def _official_style_actor(graph: SpikingGraph):
    import torch

    class OfficialStyleIF(torch.nn.Module):
        """IF neuron with the official code's per-step structure (init/mem/fire state)."""

        def __init__(self, theta: np.ndarray):
            super().__init__()
            self.thre = torch.tensor(theta, dtype=torch.float32)
            self.rate = 0.0
            self.init = torch.zeros(1, theta.size)
            self.mem = torch.zeros(1, theta.size)
            self.fire = torch.zeros(1, theta.size)
            self.T = 0

        def forward(self, x):
            if self.T == 0:
                self.init = self.init + 0.5 * self.thre
                self.mem = self.init
            self.mem = self.mem + x
            self.fire += (self.mem - self.thre) > 0
            x = ((self.mem - self.thre) > 0) * self.thre
            self.mem = self.mem - x
            self.T += 1
            return x

        def reset(self):
            low = -self.thre * self.fire
            self.init = torch.clamp(self.mem - self.init, min=low)
            high = 0.5 * self.thre
            self.init = torch.clamp(self.init * self.rate, -high, high)
            self.mem = self.init
            self.T = 0
            self.fire = torch.zeros(1, self.thre.numel())

        def clear(self):   # episode start
            self.mem = self.init = torch.zeros_like(self.mem)
            self.fire = torch.zeros_like(self.fire)

    class OfficialStyleActor(torch.nn.Module):
        def __init__(self):
            super().__init__()

            def linear(d):
                lin = torch.nn.Linear(d.shape[1], d.shape[0])
                lin.weight.data = torch.tensor(d.weight, dtype=torch.float32)
                lin.bias.data = torch.tensor(d.bias, dtype=torch.float32)
                return lin
            self.linears = torch.nn.ModuleList(linear(h.synapse) for h in graph.hidden)
            self.neurons = torch.nn.ModuleList(OfficialStyleIF(h.threshold) for h in graph.hidden)
            self.readout = linear(graph.readout)

        def forward(self, state):
            for n in self.neurons:
                n.reset()
            out = torch.zeros(1, self.neurons[-1].thre.numel())
            for _ in range(graph.timesteps):
                x = state
                for lin, n in zip(self.linears, self.neurons):
                    x = n(lin(x))
                out += x
            return torch.tanh(self.readout(out / graph.timesteps))

    return OfficialStyleActor()


def official_style_sweep(graph: SpikingGraph, env_id: str, alphas, seeds) -> np.ndarray:
    """(alphas, seeds) returns of the per-sample torch loop (max_action 1 envs)."""
    import torch
    actor = _official_style_actor(graph)
    returns = np.zeros((len(alphas), len(seeds)))
    with torch.no_grad():
        for i, alpha in enumerate(alphas):
            for n in actor.neurons:
                n.rate = float(alpha)
            env = make_env(env_id, graph.env_kwargs)
            for j, seed in enumerate(seeds):
                obs, _ = env.reset(seed=int(seed))
                for n in actor.neurons:
                    n.clear()
                done = False
                while not done:
                    action = actor(torch.FloatTensor(obs.reshape(1, -1))).numpy().flatten()
                    obs, r, term, trunc, _ = env.step(action)
                    returns[i, j] += r
                    done = term or trunc
            env.close()
    return returns


def emulator_sweep(graph: SpikingGraph, env_id: str, alphas, seeds, profile: str,
                   workers: int, precision: str = "float64") -> np.ndarray:
    """What `loihi-deploy sweep` does: alpha x episode rows in emulator batches."""
    row_alpha = np.repeat(alphas, len(seeds))
    rollout = run_episodes_parallel(
        lambda rows: Emulator(graph, len(rows), alpha=row_alpha[rows], profile=profile,
                              precision=precision),
        env_id, np.tile(seeds, len(alphas)), workers=workers, env_kwargs=graph.env_kwargs)
    return rollout.returns.reshape(len(alphas), len(seeds))


def sweep_speed(graph: SpikingGraph, env_id: str, alphas, episodes: int) -> list[dict]:
    """Seconds for the same sweep by each method, and the speed-up over the torch loop."""
    seeds = episode_seeds(100, episodes)
    workers = default_workers()
    batch = len(alphas) * len(seeds)
    methods = [(f"emulator float64 (batch {batch}, 1 process)",
                lambda: emulator_sweep(graph, env_id, alphas, seeds, "float", 1)),
               (f"emulator float64 (batch {batch}, {workers} processes)",
                lambda: emulator_sweep(graph, env_id, alphas, seeds, "float", workers)),
               (f"emulator float32 (batch {batch}, 1 process)",
                lambda: emulator_sweep(graph, env_id, alphas, seeds, "float", 1, "float32")),
               (f"emulator float32 (batch {batch}, {workers} processes)",
                lambda: emulator_sweep(graph, env_id, alphas, seeds, "float", workers,
                                       "float32")),
               (f"emulator Loihi fixed point ({workers} processes)",
                lambda: emulator_sweep(graph, env_id, alphas, seeds, "fixed", workers)),
               ("official-style loop (torch, batch 1)",
                lambda: official_style_sweep(graph, env_id, alphas, seeds))]
    rows = []
    for name, run in methods:
        start = time.perf_counter()
        returns = run()
        rows.append({"method": name, "seconds": time.perf_counter() - start,
                     "mean_return": float(returns.mean())})
    for row in rows:
        row["speedup_vs_loop"] = rows[-1]["seconds"] / row["seconds"]
    return rows


def lava_speed(graph: SpikingGraph, ann: AnnGraph, env_id: str, decisions: int,
               batch: int) -> list[dict]:
    """Open-loop replay of `decisions` ANN-visited observations, per profile."""
    from loihi_deploy.runtime.lava_bridge import LavaController
    states = run_episodes(AnnController(ann), env_id, episode_seeds(100, 1),
                          max_steps=decisions, record=True,
                          env_kwargs=graph.env_kwargs).observations[0]
    rows = []
    for profile in ("fixed", "float"):
        emulator = Emulator(graph, batch, profile=profile)
        start = time.perf_counter()
        for obs in states:
            emulator.act(np.repeat(obs[None], batch, axis=0))
        emulator_s = time.perf_counter() - start
        with LavaController(graph, profile) as lava:
            lava.act(states[:1])   # compile and start the runtime (not timed)
            lava.reset()
            lava.latencies_s.clear()
            lava_actions = np.stack([lava.act(o[None])[0] for o in states])
            latency = np.array(lava.latencies_s)
        reference = Emulator(graph, 1, profile=profile, sum_order="lava")
        expected = np.stack([reference.act(o[None])[0] for o in states])
        emulator_rate = batch * len(states) / emulator_s
        lava_rate = len(states) / latency.sum()
        rows.append({"profile": profile, "decisions": len(states), "batch": batch,
                     "emulator_decisions_per_s": emulator_rate,
                     "lava_decisions_per_s": lava_rate, "ratio": emulator_rate / lava_rate,
                     "lava_latency_ms_median": 1e3 * float(np.median(latency)),
                     "lava_latency_ms_p95": 1e3 * float(np.percentile(latency, 95)),
                     "lava_equals_emulator": bool(np.array_equal(expected, lava_actions))})
    return rows


def synthetic_graph(obs_dim: int, width: int, act_dim: int, timesteps: int,
                    seed: int = 0) -> SpikingGraph:
    """Two hidden layers of `width`, random weights, thresholds = per-neuron max activation
    over 512 random observations: a network of the policies' shape without an env."""
    rng = np.random.default_rng(seed)
    sizes = [obs_dim, width, width]
    hidden = [Dense(rng.normal(0, 1 / np.sqrt(i), (o, i)), rng.normal(0, 0.1, o))
              for i, o in zip(sizes[:-1], sizes[1:])]
    ann = AnnGraph(tuple(hidden), Dense(rng.normal(0, 1 / np.sqrt(width), (act_dim, width)),
                                        np.zeros(act_dim)),
                   ActionHead(np.ones(act_dim), np.zeros(act_dim)))
    activations: list = []
    ann.forward(rng.normal(size=(512, obs_dim)), activations)
    layers = tuple(SpikingLayer(h, a.max(axis=0)) for h, a in zip(hidden, activations))
    return SpikingGraph(layers, ann.readout, ann.head, timesteps, MembranePolicy("crpi", 0.5))


def _timed(step, min_seconds: float) -> float:
    """Seconds per call of step(i), after one untimed call, over at least min_seconds."""
    step(0)
    calls, start = 0, time.perf_counter()
    while True:
        step(calls + 1)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and calls >= 3:
            return elapsed / calls


def _seconds_per_sample_decision(graph: SpikingGraph, batch: int, min_seconds: float,
                                 precision: str = "float64") -> float:
    emulator = Emulator(graph, batch, precision=precision)
    obs = np.random.default_rng(1).normal(size=(8, batch, graph.obs_dim))
    return _timed(lambda i: emulator.act(obs[i % 8]), min_seconds) / batch


def _torch_seconds_per_decision(graph: SpikingGraph, min_seconds: float) -> float:
    import torch
    actor = _official_style_actor(graph)
    obs = torch.tensor(np.random.default_rng(1).normal(size=(8, 1, graph.obs_dim)),
                       dtype=torch.float32)
    with torch.no_grad():
        return _timed(lambda i: actor(obs[i % 8]), min_seconds)


def scaling(batches=(1, 16, 64, 256), timesteps=(4, 16, 64), widths=(64, 256, 1024),
            min_seconds: float = 0.5) -> list[dict]:
    """Microseconds per decision per sample: emulator at each batch size (width 256, T=16),
    and emulator (batch 256; float64, and float32 like the official code) vs torch loop
    (batch 1, float32) against T (width 256) and width (T=16)."""
    rows = []
    base = synthetic_graph(17, 256, 6, 16)
    for batch in batches:
        rows.append({"vary": "batch", "batch": batch, "timesteps": 16, "width": 256,
                     "emulator_us": 1e6 * _seconds_per_sample_decision(base, batch, min_seconds)})
    for axis, values in (("timesteps", timesteps), ("width", widths)):
        for value in values:
            T, width = (value, 256) if axis == "timesteps" else (16, value)
            graph = synthetic_graph(17, width, 6, T)
            emulator_us = 1e6 * _seconds_per_sample_decision(graph, batches[-1], min_seconds)
            float32_us = 1e6 * _seconds_per_sample_decision(graph, batches[-1], min_seconds,
                                                            "float32")
            torch_us = 1e6 * _torch_seconds_per_decision(graph, min_seconds)
            rows.append({"vary": axis, "batch": batches[-1], "timesteps": T, "width": width,
                         "emulator_us": emulator_us, "emulator_float32_us": float32_us,
                         "torch_loop_us": torch_us, "speedup": torch_us / emulator_us,
                         "speedup_float32": torch_us / float32_us})
    return rows
