"""Error-amplification analysis (docs/conversion.md section 5, the paper's section 4), on the emulator.

Every one-step counterfactual below scores an action by saving the MuJoCo state
(mj_getState, mjSTATE_INTEGRATION), stepping with that action, and restoring the state
before the real step: the real trajectory is unchanged (tested).

action_errors    the SNN drives its env; at each visited state s_k: the SNN's per-step error
                 da_k = a_SNN_k - pi_ANN(s_k); the ANN's one-step counterfactual next state
                 s'_k+1 = step(s_k, pi_ANN(s_k)); the ANN's response to the SNN-caused state
                 change g_k+1 = pi_ANN(s_k+1) - pi_ANN(s'_k+1). Then (a_cf = pi_ANN(s_k+1),
                 a_ANN_k+1 = pi_ANN(s'_k+1)):
                   ANN Correction  = cos(da_k, a_cf_k+1 - a_ANN_k+1)   = cos(da_k, g_k+1)
                   SNN Consistency = cos(da_k, a_SNN_k+1 - a_cf_k+1)   = cos(da_k, da_k+1)
                   SNN Drift       = cos(da_k, a_SNN_k+1 - a_ANN_k+1)  = cos(da_k, da_k+1 + g_k+1)
                 averaged over all consecutive decisions of all episodes (zero vectors
                 skipped); and per hidden layer the residual cosine cos(e_k+1, e_k) over the
                 layer's neurons, e_k = max(v_k[T] - v_k[0], -emitted_k) / T: the error proxy
                 as CRPI uses it (a silent neuron's unbounded negative drift is clamped to 0,
                 else those neurons dominate the cosine).
paired_rollouts  the ANN and the SNN each on their own env from the same reset seed, in lock
                 step: state distance and cumulative return gap over the episode.
swap_returns     the swap experiment: a driver policy runs the episode; the probe policy's
                 action at every visited state is scored one step (counterfactual) and its
                 return is the sum of those rewards along the driver's trajectory; the probe
                 sees the driver's observations (a stateful SNN probe integrates them as it
                 would its own). Driver = probe gives exactly the driver's return (tested).
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from loihi_deploy.compiler.ir import AnnGraph, SpikingGraph
from loihi_deploy.runtime.closed_loop import AnnController
from loihi_deploy.runtime.envs import make_env
from loihi_deploy.sim_backend.emulator import Emulator


class _Counterfactual:
    """Save / restore one env's MuJoCo state around a probe step."""

    def __init__(self):
        import mujoco
        self.mujoco = mujoco
        self.spec = mujoco.mjtState.mjSTATE_INTEGRATION

    def step(self, env, action) -> tuple[np.ndarray, float]:
        """(observation, reward) of `action` from env's current state; state unchanged."""
        mj, sim = self.mujoco, env.unwrapped
        state = np.empty(mj.mj_stateSize(sim.model, self.spec))
        mj.mj_getState(sim.model, sim.data, state, self.spec)
        obs, reward = sim.step(action)[:2]
        mj.mj_setState(sim.model, sim.data, state, self.spec)
        mj.mj_forward(sim.model, sim.data)
        return np.asarray(obs, dtype=np.float64), float(reward)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine over the last axis; NaN where either vector is zero."""
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((na > 0) & (nb > 0), (a * b).sum(-1) / (na * nb), np.nan)


def _snn(graph: SpikingGraph, batch: int, alpha: float) -> Emulator:
    return Emulator(graph, batch, alpha=alpha if graph.membrane.kind == "crpi" else None)


def action_errors(ann: AnnGraph, graph: SpikingGraph, env_id: str, seeds, alpha: float,
                  max_steps: int | None = None) -> dict:
    """The three action-error cosines, the per-layer residual cosines and the SNN returns
    (module docstring), over the episodes of `seeds`."""
    seeds = [int(s) for s in seeds]
    envs = [make_env(env_id, graph.env_kwargs) for _ in seeds]
    horizon = max_steps or envs[0].spec.max_episode_steps or 1000
    probe, snn = _Counterfactual(), _snn(graph, len(seeds), alpha)
    sums = {"ann_correction": [], "snn_consistency": [], "snn_drift": []}
    residual = [[] for _ in graph.hidden]
    returns = np.zeros(len(seeds))
    try:
        obs = np.stack([e.reset(seed=s)[0] for e, s in zip(envs, seeds)]).astype(np.float64)
        snn.reset()
        running = np.ones(len(seeds), dtype=bool)
        prev_da, prev_e = None, None
        for _ in range(horizon):
            a_snn, a_ann = snn.act(obs), ann.forward(obs)
            da = a_snn - a_ann
            e = [r / graph.timesteps for r in snn.last_residuals]
            if prev_da is not None:   # rows running at k and k+1; g from the last step
                rows = running
                sums["ann_correction"].append(_cos(prev_da, g)[rows])
                sums["snn_consistency"].append(_cos(prev_da, da)[rows])
                sums["snn_drift"].append(_cos(prev_da, da + g)[rows])
                for layer, (now, before) in enumerate(zip(e, prev_e)):
                    residual[layer].append(_cos(now, before)[rows])
            g = np.zeros_like(da)
            for b in np.flatnonzero(running):
                counterfactual_obs, _ = probe.step(envs[b], a_ann[b])
                o, r, terminated, truncated, _ = envs[b].step(a_snn[b])
                obs[b] = o
                returns[b] += r
                running[b] = not (terminated or truncated)
                g[b] = ann.forward(o[None])[0] - ann.forward(counterfactual_obs[None])[0]
            prev_da, prev_e = da, e
            if not running.any():
                break
    finally:
        for env in envs:
            env.close()

    def mean(chunks):
        values = np.concatenate(chunks) if chunks else np.array([])
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else float("nan")
    result = {k: mean(v) for k, v in sums.items()}
    result["residual_cos"] = [mean(layer) for layer in residual]
    result["snn_return"] = float(returns.mean())
    return result


@dataclasses.dataclass
class Paired:
    """(B, K) arrays; K = horizon; entries past an episode's end are NaN / 0 / False."""
    state_distance: np.ndarray   # ||s_SNN_k - s_ANN_k|| while both episodes run
    rew_ann: np.ndarray
    rew_snn: np.ndarray


def paired_rollouts(ann: AnnGraph, graph: SpikingGraph, env_id: str, seeds, alpha: float,
                    max_steps: int | None = None) -> Paired:
    """ANN and SNN each drive their own env from the same reset seeds, in lock step."""
    seeds = [int(s) for s in seeds]
    envs = {side: [make_env(env_id, graph.env_kwargs) for _ in seeds] for side in ("ann", "snn")}
    horizon = max_steps or envs["ann"][0].spec.max_episode_steps or 1000
    controllers = {"ann": AnnController(ann), "snn": _snn(graph, len(seeds), alpha)}
    shape = (len(seeds), horizon)
    distance = np.full(shape, np.nan)
    rewards = {k: np.zeros(shape) for k in envs}
    try:
        obs = {k: np.stack([e.reset(seed=s)[0] for e, s in zip(v, seeds)]).astype(np.float64)
               for k, v in envs.items()}
        for c in controllers.values():
            c.reset()
        running = {k: np.ones(len(seeds), dtype=bool) for k in envs}
        for k in range(horizon):
            both = running["ann"] & running["snn"]
            distance[both, k] = np.linalg.norm(obs["snn"] - obs["ann"], axis=-1)[both]
            for key, env_list in envs.items():
                actions = controllers[key].act(obs[key])
                for b in np.flatnonzero(running[key]):
                    o, r, terminated, truncated, _ = env_list[b].step(actions[b])
                    obs[key][b] = o
                    rewards[key][b, k] = r
                    running[key][b] = not (terminated or truncated)
            if not (running["ann"] | running["snn"]).any():
                break
    finally:
        for env_list in envs.values():
            for env in env_list:
                env.close()
    return Paired(distance, rewards["ann"], rewards["snn"])


def divergence(p: Paired) -> tuple[np.ndarray, np.ndarray]:
    """(K,) mean over episodes of the state distance (episodes still running) and of the
    cumulative return gap sum_{j<=k} (r_ANN_j - r_SNN_j)."""
    with warnings.catch_warnings():   # decisions no episode reached: NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_distance = np.nanmean(p.state_distance, axis=0)
    return mean_distance, np.cumsum(p.rew_ann - p.rew_snn, axis=1).mean(axis=0)


def swap_returns(driver, probe, env_id: str, seeds, max_steps: int | None = None,
                 env_kwargs: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(driver returns, probe returns on the driver's states), (B,) each; driver and probe
    are batched controllers (runtime.closed_loop protocol) of batch len(seeds)."""
    seeds = [int(s) for s in seeds]
    envs = [make_env(env_id, env_kwargs) for _ in seeds]
    horizon = max_steps or envs[0].spec.max_episode_steps or 1000
    counterfactual = _Counterfactual()
    driver_returns, probe_returns = np.zeros(len(seeds)), np.zeros(len(seeds))
    try:
        obs = np.stack([e.reset(seed=s)[0] for e, s in zip(envs, seeds)]).astype(np.float64)
        driver.reset()
        probe.reset()
        running = np.ones(len(seeds), dtype=bool)
        for _ in range(horizon):
            a_driver = np.asarray(driver.act(obs))
            a_probe = np.asarray(probe.act(obs))
            for b in np.flatnonzero(running):
                probe_returns[b] += counterfactual.step(envs[b], a_probe[b])[1]
                o, r, terminated, truncated, _ = envs[b].step(a_driver[b])
                obs[b] = o
                driver_returns[b] += r
                running[b] = not (terminated or truncated)
            if not running.any():
                break
    finally:
        for env in envs:
            env.close()
    return driver_returns, probe_returns


def swap_experiment(ann: AnnGraph, graph: SpikingGraph, env_id: str, seeds, alpha: float,
                    max_steps: int | None = None) -> dict:
    """Returns (mean over episodes) of: ANN, SNN, SNN actions on ANN-visited states, ANN
    actions on SNN-visited states."""
    ann_ret, snn_on_ann = swap_returns(AnnController(ann), _snn(graph, len(seeds), alpha),
                                       env_id, seeds, max_steps, graph.env_kwargs)
    snn_ret, ann_on_snn = swap_returns(_snn(graph, len(seeds), alpha), AnnController(ann),
                                       env_id, seeds, max_steps, graph.env_kwargs)
    return {"ann": float(ann_ret.mean()), "snn": float(snn_ret.mean()),
            "snn_on_ann_states": float(snn_on_ann.mean()),
            "ann_on_snn_states": float(ann_on_snn.mean())}
