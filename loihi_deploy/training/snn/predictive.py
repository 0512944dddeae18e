"""Predictive control (Huebotter et al.; docs/snn_control.md): a learned forward model and a policy
trained through it, with spiking networks (loihi_deploy.training.snn.layers) or a GRU baseline.

Per iteration:
  1. collect `episodes` episodes with the current policy (deterministic, plus Gaussian action
     noise `noise` for exploration) into the episode replay buffer;
  2. forward model (s_t, u_t) -> s_t+1 - s_t: `model_batches` batches of windows, `warmup`
     steps fed real data, then `horizon` teacher-forced steps (real s_t at every step), MSE;
  3. policy (s_t, s*) -> u_t: `policy_batches` batches; both networks warm up on `warmup` real
     steps, then the policy acts for `horizon` imagined steps through the frozen model,
     u = pi(s_hat, s*), s_hat += model(s_hat, u); loss = mean squared distance between the
     imagined hand position s_hat[:target_dim] and the target, backpropagated through both networks
     (through time); only the policy is updated;
  4. evaluate on fixed seeds: cumulative distance, success rate, time on target, and the
     forward model's one-step prediction MSE on the evaluation episodes (in delta_scale units:
     1.0 = errors as large as the changes themselves).
Adam (lr 1e-3; time constants, learned as log tau, lr 1e-2), gradient norm clipped at 30.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
import time

import numpy as np
import torch

from loihi_deploy.compiler.files import atomic_write_bytes, atomic_write_text
from loihi_deploy.runtime.closed_loop import run_episodes
from loihi_deploy.training.checkpoint import torch_bytes
from loihi_deploy.training.configs import SNNTrainConfig
from loihi_deploy.training.snn.layers import GRUNetwork, SpikingNetwork
from loihi_deploy.training.snn.tasks import TASK_IDS, task_type

EVAL_SEED = 10_000


class ForwardModel(torch.nn.Module):
    """(s, u) -> predicted s' - s: a network whose output is in units of `delta_scale` (per
    state dimension, the std of the state changes in the first iteration's episodes, or in the
    whole buffer after every iteration with refit_scale), so the
    MSE weighs every dimension alike instead of fitting near-zero changes."""

    def __init__(self, net: torch.nn.Module, obs_dim: int):
        super().__init__()
        self.net = net
        self.register_buffer("delta_scale", torch.ones(obs_dim))

    def fit_scale(self, obs: np.ndarray) -> None:
        """obs (E, L+1, d): delta_scale = std of obs[:, t+1] - obs[:, t] (floor 1e-4)."""
        delta = np.diff(obs, axis=1).reshape(-1, obs.shape[-1])
        self.delta_scale.copy_(torch.tensor(np.maximum(delta.std(axis=0), 1e-4)))

    def reset(self, batch: int) -> None:
        self.net.reset(batch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.delta_scale

    def time_constant_parameters(self):
        return self.net.time_constant_parameters()


def build_networks(cfg: SNNTrainConfig, obs_dim: int, act_dim: int, target_dim: int):
    """(forward model, policy) of the configured kind."""
    if cfg.model == "snn":
        make = lambda n_in, n_out, out: SpikingNetwork(  # noqa: E731
            n_in, n_out, cfg.hidden, 2, cfg.substeps, cfg.latent_rank, out)
    elif cfg.model == "gru":
        make = lambda n_in, n_out, out: GRUNetwork(n_in, n_out, cfg.hidden, out)  # noqa: E731
    else:
        raise ValueError(f"model must be snn or gru, got {cfg.model!r}")
    return (ForwardModel(make(obs_dim + act_dim, obs_dim, "linear"), obs_dim),
            make(obs_dim + target_dim, act_dim, "tanh"))


def parameter_count(net: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in net.parameters()))


class TorchController:
    """A policy network as a runtime controller: reset(); act(x (B, d)) -> (B, a) numpy."""

    def __init__(self, policy: torch.nn.Module, batch: int):
        self.policy, self.batch = policy, batch

    def reset(self) -> None:
        self.policy.reset(self.batch)

    def act(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.policy(torch.tensor(x, dtype=torch.float32)).numpy().astype(np.float64)


class NoisyController:
    """Exploration: the wrapped controller's actions plus Gaussian noise (std `noise`),
    clipped to [-1, 1]; one draw of shape (B, act_dim) from `rng` per step."""

    def __init__(self, controller, noise: float, rng: np.random.Generator):
        self.controller, self.noise, self.rng = controller, noise, rng

    def reset(self) -> None:
        self.controller.reset()

    def act(self, x: np.ndarray) -> np.ndarray:
        action = self.controller.act(x)
        return np.clip(action + self.rng.normal(0, self.noise, action.shape), -1, 1)


def rollout(controller, task: str, seeds, noise: float = 0.0, rng=None) -> dict:
    """Episodes of a controller batched over seeds (TorchController, or the emulator / Lava
    controllers of a compiled SNN) through the one episode runner,
    runtime.closed_loop.run_episodes, on the task's goal-observation env (input = observation
    then target): obs (E, L+1, d), act (E, L, a), target (E, t), distance (E, L) after each
    step."""
    env = task_type(task)
    run = run_episodes(NoisyController(controller, noise, rng) if noise else controller,
                       TASK_IDS[task], seeds, record=True)
    inputs = np.concatenate([run.observations, run.last_observations[:, None]], axis=1)
    obs, target = inputs[..., :env.obs_dim], inputs[:, 0, env.obs_dim:]
    hand = obs[:, 1:, :env.target_dim]            # every observation starts with the hand
    return {"obs": obs, "act": run.actions, "target": target,
            "distance": np.linalg.norm(hand - target[:, None], axis=-1)}


def reaching_metrics(distance: np.ndarray, task: str) -> dict:
    """distance (E, L) per step -> cumulative distance (per episode, mean), final distance,
    success rate (final distance within the task's radius), time on target."""
    radius = task_type(task).success_radius
    return {"cumulative_distance": float(distance.sum(axis=1).mean()),
            "final_distance": float(distance[:, -1].mean()),
            "success_rate": float((distance[:, -1] < radius).mean()),
            "time_on_target": float((distance < radius).mean())}


class EpisodeBuffer:
    def __init__(self):
        self.episodes: list[dict] = []

    def add(self, batch: dict) -> None:
        for i in range(len(batch["target"])):
            self.episodes.append({k: batch[k][i] for k in ("obs", "act", "target")})

    def windows(self, batch: int, length: int, rng) -> tuple[torch.Tensor, ...]:
        """(obs (B, length+1, d), act (B, length, a), target (B, 2)) random windows."""
        picks = rng.integers(0, len(self.episodes), batch)
        obs, act, target = [], [], []
        for i in picks:
            ep = self.episodes[i]
            start = rng.integers(0, len(ep["act"]) - length + 1)
            obs.append(ep["obs"][start:start + length + 1])
            act.append(ep["act"][start:start + length])
            target.append(ep["target"])
        as_t = lambda a: torch.tensor(np.stack(a), dtype=torch.float32)  # noqa: E731
        return as_t(obs), as_t(act), as_t(target)


def model_loss(model, obs, act, warmup: int) -> torch.Tensor:
    """Teacher-forced one-step MSE of the predicted state change after `warmup` steps, in
    units of the model's delta_scale."""
    model.reset(len(obs))
    losses = []
    for t in range(act.shape[1]):
        delta = model(torch.cat([obs[:, t], act[:, t]], dim=1))
        if t >= warmup:
            error = (delta - (obs[:, t + 1] - obs[:, t])) / model.delta_scale
            losses.append((error ** 2).mean())
    return torch.stack(losses).mean()


def policy_loss(policy, model, obs, act, target, warmup: int, horizon: int) -> torch.Tensor:
    """Imagined rollout of `horizon` steps after `warmup` real ones; mean squared distance of
    the imagined hand (state[:, :target_dim], tasks' convention) to the target."""
    policy.reset(len(obs))
    model.reset(len(obs))
    for t in range(warmup):
        policy(torch.cat([obs[:, t], target], dim=1))
        model(torch.cat([obs[:, t], act[:, t]], dim=1))
    state = obs[:, warmup]
    losses = []
    for _ in range(horizon):
        u = policy(torch.cat([state, target], dim=1))
        state = state + model(torch.cat([state, u], dim=1))
        losses.append(((state[:, :target.shape[1]] - target) ** 2).sum(dim=1).mean())
    return torch.stack(losses).mean()


def _optimizer(net) -> torch.optim.Optimizer:
    taus = {id(p) for p in net.time_constant_parameters()}
    rest = [p for p in net.parameters() if id(p) not in taus]
    groups = [{"params": rest, "lr": 1e-3}]
    if taus:
        groups.append({"params": net.time_constant_parameters(), "lr": 1e-2})
    return torch.optim.Adam(groups)


def evaluate(policy, model, task: str, episodes: int) -> dict:
    seeds = range(EVAL_SEED, EVAL_SEED + episodes)
    data = rollout(TorchController(policy, episodes), task, seeds)
    with torch.no_grad():
        obs = torch.tensor(data["obs"], dtype=torch.float32)
        act = torch.tensor(data["act"], dtype=torch.float32)
        mse = float(model_loss(model, obs, act, 0))
    return {**reaching_metrics(data["distance"], task), "prediction_mse": mse}


def train_snn(cfg: SNNTrainConfig, argv: list[str] | None = None) -> pathlib.Path:
    """Train; write OUT/{policy.pt, model.pt, metrics.json, learning_curves.png}."""
    from tqdm.auto import tqdm
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    env = task_type(cfg.task)
    model, policy = build_networks(cfg, env.obs_dim, env.act_dim, env.target_dim)
    model_opt, policy_opt = _optimizer(model), _optimizer(policy)
    buffer = EpisodeBuffer()
    history = []
    start = time.time()
    length = cfg.warmup + cfg.horizon
    bar = tqdm(range(cfg.iterations), desc=f"{cfg.model} {cfg.task}", unit="iter")
    for iteration in bar:
        seeds = rng.integers(0, 2 ** 31, cfg.episodes)
        batch = rollout(TorchController(policy, len(seeds)), cfg.task, seeds, cfg.noise, rng)
        buffer.add(batch)
        if iteration == 0 or cfg.refit_scale:
            model.fit_scale(np.stack([episode["obs"] for episode in buffer.episodes]))
        for _ in range(cfg.model_batches):
            obs, act, _ = buffer.windows(cfg.batch, length, rng)
            loss = model_loss(model, obs, act, cfg.warmup)
            model_opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 30.0)
            model_opt.step()
        for _ in range(cfg.policy_batches):
            obs, act, target = buffer.windows(cfg.batch, length, rng)
            loss = policy_loss(policy, model, obs, act, target, cfg.warmup, cfg.horizon)
            policy_opt.zero_grad()
            model_opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 30.0)
            policy_opt.step()
        metrics = evaluate(policy, model, cfg.task, cfg.eval_episodes)
        history.append({"iteration": iteration + 1, "episodes": len(buffer.episodes),
                        "seconds": round(time.time() - start, 1), **metrics})
        bar.set_postfix(success=f"{metrics['success_rate']:.2f}",
                        dist=f"{metrics['final_distance']:.3f}")
    out = pathlib.Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "policy.pt", torch_bytes(policy.state_dict()))
    atomic_write_bytes(out / "model.pt", torch_bytes(model.state_dict()))
    result = {"config": dataclasses.asdict(cfg),
              "command": " ".join(["loihi-deploy", *(argv or sys.argv[1:])]),
              "parameters": {"policy": parameter_count(policy), "model": parameter_count(model)},
              "final": history[-1], "history": history,
              "eval_seeds": [EVAL_SEED, EVAL_SEED + cfg.eval_episodes - 1]}
    atomic_write_text(out / "metrics.json", json.dumps(result, indent=1))
    plot_learning_curves([result], out / "learning_curves.png")
    return out


def plot_learning_curves(results: list[dict], path: pathlib.Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    keys = ("success_rate", "final_distance", "time_on_target", "prediction_mse")
    fig, axes = plt.subplots(1, len(keys), figsize=(3.3 * len(keys), 2.8), dpi=110)
    for result in results:
        label = f"{result['config']['model']} ({result['parameters']['policy']} params)"
        iters = [h["iteration"] for h in result["history"]]
        for ax, key in zip(axes, keys):
            ax.plot(iters, [h[key] for h in result["history"]], label=label)
    for ax, key in zip(axes, keys):
        ax.set_title(key.replace("_", " "), fontsize=9)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
