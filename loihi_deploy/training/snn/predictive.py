"""Predictive control (Huebotter et al.; docs/snn_control.md): a learned forward model and a policy
trained through it. The policy is a spiking network (loihi_deploy.training.snn.layers) or a GRU
baseline; the forward model, used in training only, a GRU by default (--forward-model).

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
Adam (lr 1e-3, the policy's --policy-lr; time constants, learned as log tau, at 10x; --lr-schedule
cosine lowers all to a tenth by the last iteration), gradient norm clipped at 30.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import pathlib
import sys
import time

import numpy as np
import torch

from loihi_deploy.compiler.files import atomic_write_bytes, atomic_write_text
from loihi_deploy.runtime.closed_loop import run_episodes
from loihi_deploy.stats import mean_ci95, success_ci95
from loihi_deploy.training.checkpoint import torch_bytes
from loihi_deploy.training.configs import SNNTrainConfig
from loihi_deploy.training.snn.imitation import (imitation_loss, load_teacher, teacher_actions,
                                                 teacher_acts)
from loihi_deploy.training.snn.layers import GRUNetwork, SpikingNetwork, compile_kernels
from loihi_deploy.training.snn.resume import load_checkpoint, save_checkpoint, save_episodes
from loihi_deploy.training.snn.runs import run_fingerprint
from loihi_deploy.training.snn.tasks import (EPISODE_STEPS, TASK_IDS, controller_inputs,
                                             encoded_controller, policy_input_dim, task_type)

EVAL_SEED = 10_000
LR_FLOOR = 0.1          # the cosine schedule's last learning rate, as a fraction of the first
OUTPUT_BOUND = 3.0       # |policy output before tanh| beyond which policy_loss may penalise
FINAL_EVAL_EPISODES = 50


class ForwardModel(torch.nn.Module):
    """(s, u) -> predicted s' - s: a network whose output is in units of `delta_scale` (per
    state dimension, the std of the state changes in the episode buffer, refit after every
    iteration, or the first iteration's only), so the MSE weighs every dimension alike instead
    of fitting near-zero changes."""

    def __init__(self, net: torch.nn.Module, obs_dim: int):
        super().__init__()
        self.net = net
        self.register_buffer("delta_scale", torch.ones(obs_dim))

    def fit_scale(self, obs: np.ndarray, keep_predictions: bool = False) -> None:
        """obs (E, L+1, d): delta_scale = std of obs[:, t+1] - obs[:, t] (floor 1e-4).
        keep_predictions: rescale the network's output layer by old / new scale, so the
        model predicts exactly what it did before (its output is linear in that layer)."""
        delta = np.diff(obs, axis=1).reshape(-1, obs.shape[-1])
        new = torch.tensor(np.maximum(delta.std(axis=0), 1e-4), dtype=self.delta_scale.dtype,
                           device=self.delta_scale.device)
        if keep_predictions:
            self.net.scale_output(self.delta_scale / new)
        self.delta_scale.copy_(new)

    def reset(self, batch: int) -> None:
        self.net.reset(batch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.delta_scale

    def time_constant_parameters(self):
        return self.net.time_constant_parameters()


def build_networks(cfg: SNNTrainConfig, obs_dim: int, act_dim: int, target_dim: int):
    """(forward model, policy): the policy of kind cfg.model, the forward model of kind
    cfg.forward_model (same: the policy's)."""
    def make(kind: str, n_in: int, n_out: int, out: str) -> torch.nn.Module:
        if kind == "snn":
            return SpikingNetwork(n_in, n_out, cfg.hidden, 2, cfg.substeps, cfg.latent_rank,
                                  out, fused=cfg.kernels != "per-substep")
        if kind == "gru":
            return GRUNetwork(n_in, n_out, cfg.hidden, out)
        raise ValueError(f"network kind must be snn or gru, got {kind!r}")
    model_kind = cfg.model if cfg.forward_model == "same" else cfg.forward_model
    return (ForwardModel(make(model_kind, obs_dim + act_dim, obs_dim, "linear"), obs_dim),
            make(cfg.model, policy_input_dim(cfg.task, cfg.input_change), act_dim, "tanh"))


def parameter_count(net: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in net.parameters()))


class TorchController:
    """A policy network as a runtime controller: reset(); act(x (B, d)) -> (B, a) numpy.
    Runs in the policy's own dtype (float32 as trained; a float64 copy for exact checks)."""

    def __init__(self, policy: torch.nn.Module, batch: int):
        self.policy, self.batch = policy, batch

    def reset(self) -> None:
        self.policy.reset(self.batch)

    def act(self, x: np.ndarray) -> np.ndarray:
        weight = next(self.policy.parameters())
        with torch.no_grad():
            action = self.policy(torch.tensor(x, dtype=weight.dtype, device=weight.device))
        return action.cpu().numpy().astype(np.float64)


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
    successes = int((distance[:, -1] < radius).sum())
    return {"cumulative_distance": float(distance.sum(axis=1).mean()),
            "final_distance": float(distance[:, -1].mean()),
            "final_distance_ci95": mean_ci95(distance[:, -1])[1],
            "success_rate": successes / len(distance),
            "success_ci95": success_ci95(successes, len(distance)),
            "time_on_target": float((distance < radius).mean())}


def policy_controller(policy: torch.nn.Module, batch: int, task: str, input_change: bool):
    """A policy network as the runtime controller of `batch` rows, inputs encoded as it was
    trained (tasks.encoded_controller)."""
    return encoded_controller(TorchController(policy, batch), task, input_change)


def final_evaluation(policy, task: str, input_change: bool = False,
                     episodes: int = FINAL_EVAL_EPISODES) -> dict:
    """The trained policy on `episodes` evaluation seeds from EVAL_SEED: reaching metrics with
    95% intervals and the per-episode cumulative distances (for replay checks)."""
    seeds = range(EVAL_SEED, EVAL_SEED + episodes)
    data = rollout(policy_controller(policy, episodes, task, input_change), task, seeds)
    return {"episodes": episodes, "seeds": [EVAL_SEED, EVAL_SEED + episodes - 1],
            **reaching_metrics(data["distance"], task),
            "cumulative_distance_per_episode": data["distance"].sum(axis=1).round(6).tolist()}


class EpisodeBuffer:
    def __init__(self):
        self.episodes: list[dict] = []

    def add(self, batch: dict) -> None:
        """A rollout's episodes (obs, act, target and, imitating, teacher_act (E, L, a))."""
        keys = [k for k in ("obs", "act", "target", "teacher_act") if k in batch]
        for i in range(len(batch["target"])):
            self.episodes.append({k: batch[k][i] for k in keys})

    def windows(self, batch: int, length: int, rng,
                device: str = "cpu") -> tuple[torch.Tensor, ...]:
        """(obs (B, length+1, d), act (B, length, a), target (B, t)) random windows."""
        picks = rng.integers(0, len(self.episodes), batch)
        obs, act, target = [], [], []
        for i in picks:
            ep = self.episodes[i]
            start = rng.integers(0, len(ep["act"]) - length + 1)
            obs.append(ep["obs"][start:start + length + 1])
            act.append(ep["act"][start:start + length])
            target.append(ep["target"])
        as_t = lambda a: torch.tensor(np.stack(a), dtype=torch.float32,  # noqa: E731
                                      device=device)
        return as_t(obs), as_t(act), as_t(target)

    def whole_episodes(self, batch: int, rng, device: str = "cpu",
                       input_change: bool = False) -> tuple[torch.Tensor, ...]:
        """(controller inputs (B, L, d), teacher actions (B, L, a)) of `batch` random
        episodes, for imitation."""
        picks = rng.integers(0, len(self.episodes), batch)
        chosen = [self.episodes[i] for i in picks]
        inputs = controller_inputs({k: np.stack([ep[k] for ep in chosen])
                                    for k in ("obs", "target")}, input_change)
        labels = np.stack([ep["teacher_act"] for ep in chosen])
        return tuple(torch.tensor(a, dtype=torch.float32, device=device)
                     for a in (inputs, labels))


def predict_changes(model, obs, act) -> torch.Tensor:
    """Teacher-forced one-step predictions from reset: obs (B, L+1, d), act (B, L, a) ->
    predicted s_t+1 - s_t (B, L, d), the model fed the real s_t at every step."""
    model.reset(len(obs))
    return torch.stack([model(torch.cat([obs[:, t], act[:, t]], dim=1))
                        for t in range(act.shape[1])], dim=1)


def model_loss(model, obs, act, warmup: int) -> torch.Tensor:
    """Teacher-forced one-step MSE of the predicted state change after `warmup` steps, in
    units of the model's delta_scale."""
    error = predict_changes(model, obs, act) - (obs[:, 1:] - obs[:, :-1])
    return ((error[:, warmup:] / model.delta_scale) ** 2).mean()


@contextlib.contextmanager
def frozen(net: torch.nn.Module):
    """Within: net's parameters do not require gradients (restored after)."""
    flags = [(p, p.requires_grad) for p in net.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield net
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def policy_loss(policy, model, obs, act, target, warmup: int, horizon: int,
                loss: str = "squared", bound_weight: float = 0.0,
                input_change: bool = False) -> torch.Tensor:
    """Imagined rollout of `horizon` steps after `warmup` real ones; mean squared distance of
    the imagined hand (state[:, :target_dim], tasks' convention) to the target (loss
    "squared"), or mean distance in metres (loss "distance": sqrt(|d|^2 + 1e-6),
    differentiable at 0).
    bound_weight: plus bound_weight x mean(max(|y| - OUTPUT_BOUND, 0)^2) of the policy's
    output before tanh (y = policy.preactivation), so actions stay off tanh's flat tails.
    input_change: the policy's inputs end with the state's change since the previous step
    (tasks.controller_inputs), 0 at the window's first step.
    The model is frozen here: gradients flow through it to the policy, none into its weights
    (which saves their products)."""
    def policy_input(state, previous):
        parts = [state, target] + ([state - previous] if input_change else [])
        return torch.cat(parts, dim=1)

    with frozen(model):
        policy.reset(len(obs))
        model.reset(len(obs))
        previous = obs[:, 0]
        for t in range(warmup):
            policy(policy_input(obs[:, t], previous))
            model(torch.cat([obs[:, t], act[:, t]], dim=1))
            previous = obs[:, t]
        state = obs[:, warmup]
        losses = []
        for _ in range(horizon):
            u = policy(policy_input(state, previous))
            previous = state
            state = state + model(torch.cat([state, u], dim=1))
            squared_distance = ((state[:, :target.shape[1]] - target) ** 2).sum(dim=1)
            step_loss = (squared_distance if loss == "squared"
                         else (squared_distance + 1e-6).sqrt()).mean()
            if bound_weight:
                excess = (policy.preactivation.abs() - OUTPUT_BOUND).clamp_min(0)
                step_loss = step_loss + bound_weight * (excess ** 2).mean()
            losses.append(step_loss)
        return torch.stack(losses).mean()


def _optimizer(net, lr: float = 1e-3) -> torch.optim.Optimizer:
    """Adam: `lr`, the time constants (log tau) 10 x lr; each group keeps its `base_lr`."""
    taus = {id(p) for p in net.time_constant_parameters()}
    rest = [p for p in net.parameters() if id(p) not in taus]
    groups = [{"params": rest, "lr": lr, "base_lr": lr}]
    if taus:
        groups.append({"params": net.time_constant_parameters(), "lr": 10 * lr,
                       "base_lr": 10 * lr})
    return torch.optim.Adam(groups)


def learning_rate_scale(schedule: str, iteration: int, iterations: int) -> float:
    """Factor on every group's base_lr in `iteration` (0-based) of `iterations`: constant 1,
    or cosine from 1 down to LR_FLOOR at the last iteration."""
    if schedule == "constant" or iterations < 2:
        return 1.0
    progress = iteration / (iterations - 1)
    return LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))


def evaluate(policy, model, task: str, episodes: int, input_change: bool = False) -> dict:
    """Reaching metrics on the evaluation seeds, and the forward model's error on those
    episodes (when there is a model: imitation trains none)."""
    seeds = range(EVAL_SEED, EVAL_SEED + episodes)
    data = rollout(policy_controller(policy, episodes, task, input_change), task, seeds)
    metrics = reaching_metrics(data["distance"], task)
    if model is not None:
        metrics["prediction_mse"] = prediction_errors(model, data)[0]
    return metrics


def prediction_errors(model, data: dict) -> tuple[float, float]:
    """The forward model's teacher-forced one-step errors on rollout episodes: (MSE in units
    of delta_scale, normalised MSE = per state dimension MSE / variance of the true changes
    in these episodes, averaged over dimensions: 0 = perfect, 1 = no better than predicting
    the mean change)."""
    device = model.delta_scale.device
    with torch.no_grad():
        obs = torch.tensor(data["obs"], dtype=torch.float32, device=device)
        act = torch.tensor(data["act"], dtype=torch.float32, device=device)
        change = obs[:, 1:] - obs[:, :-1]
        error = (predict_changes(model, obs, act) - change).reshape(-1, obs.shape[-1])
        variance = change.reshape(-1, obs.shape[-1]).var(dim=0).clamp_min(1e-12)
        mse = float(((error / model.delta_scale) ** 2).mean())
        nmse = float((error.pow(2).mean(dim=0) / variance).mean())
    return mse, nmse


def fit_inputs(model: ForwardModel | None, policy: torch.nn.Module, buffer: EpisodeBuffer,
               input_change: bool = False) -> None:
    """Both networks' input statistics from the buffer's episodes: the model's input is
    (s_t, u_t), the policy's its controller inputs (s_t, s* and, with input_change,
    s_t - s_t-1); model None: the policy's only."""
    episodes = {k: np.stack([episode[k] for episode in buffer.episodes])
                for k in ("obs", "act", "target")}
    policy_inputs = controller_inputs(episodes, input_change)
    if model is not None:
        model.net.fit_input(np.concatenate([episodes["obs"][:, :-1], episodes["act"]],
                                           axis=2).reshape(-1, model.net.input_mean.numel()))
    policy.fit_input(policy_inputs.reshape(-1, policy_inputs.shape[-1]))


def resolve_device(name: str) -> torch.device:
    """auto -> cuda when torch sees a GPU, else cpu; cuda without a GPU is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: torch sees no GPU here (torch.cuda.is_available() is "
                         "False); use --device cpu or auto")
    return torch.device(name)


def train_snn(cfg: SNNTrainConfig, argv: list[str] | None = None) -> pathlib.Path:
    """Train, or continue the run in OUT (training.snn.resume); write OUT/{policy.pt,
    model.pt, metrics.json, learning_curves.png} and the checkpoint files. With cfg.teacher
    the policy imitates that run's policy (training.snn.imitation) and no forward model is
    trained (no model.pt)."""
    from tqdm.auto import tqdm
    if cfg.warmup + cfg.horizon > EPISODE_STEPS:      # before anything is written
        raise ValueError(f"--horizon {cfg.horizon}: a window of {cfg.warmup} warm-up and "
                         f"{cfg.horizon} imagined steps must fit in an episode of "
                         f"{EPISODE_STEPS} steps (horizon <= {EPISODE_STEPS - cfg.warmup})")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    spiking = "snn" in (cfg.model, cfg.forward_model)
    compiled = spiking and compile_kernels(cfg.kernels == "compiled")
    rng = np.random.default_rng(cfg.seed)
    env = task_type(cfg.task)
    model, policy = (net.to(device) for net in
                     build_networks(cfg, env.obs_dim, env.act_dim, env.target_dim))
    teacher, teacher_change = (load_teacher(cfg.teacher, cfg.task, device) if cfg.teacher
                               else (None, False))
    if teacher is not None:     # built all the same, so the policy starts from the weights
        model = None            # a predictive run of this seed starts from
    model_opt = _optimizer(model) if model is not None else None
    policy_opt = _optimizer(policy, cfg.policy_lr)
    out = pathlib.Path(cfg.out_dir)
    buffer = EpisodeBuffer()
    teacher_sha256 = run_fingerprint(cfg.teacher) if cfg.teacher else None
    resumed = load_checkpoint(out, cfg, policy, model, policy_opt, model_opt, rng,
                              teacher_sha256)
    history = resumed.history if resumed else []
    for batch in resumed.batches if resumed else []:
        if teacher is not None:
            batch["teacher_act"] = teacher_actions(teacher, batch, teacher_change)
        buffer.add(batch)
    done = resumed.iterations if resumed else 0
    if resumed:
        print(f"resuming {out} after {done} of {cfg.iterations} iterations", file=sys.stderr)
    if resumed and done == cfg.iterations and resumed.evaluation:
        print(f"{out}: already trained for {done} iterations and evaluated; pass a larger "
              f"--iterations to continue", file=sys.stderr)
        return out
    start = time.time() - (history[-1]["seconds"] if history else 0.0)
    length = cfg.warmup + cfg.horizon
    bar = tqdm(range(done, cfg.iterations), desc=f"{cfg.model} {cfg.task}", unit="iter",
               initial=done, total=cfg.iterations)
    result = None
    for iteration in bar:
        scale = learning_rate_scale(cfg.lr_schedule, iteration, cfg.iterations)
        for opt in (model_opt, policy_opt):
            for group in opt.param_groups if opt is not None else ():
                group["lr"] = group["base_lr"] * scale
        seeds = rng.integers(0, 2 ** 31, cfg.episodes)
        if teacher is None:
            batch = rollout(policy_controller(policy, len(seeds), cfg.task, cfg.input_change),
                            cfg.task, seeds, cfg.noise, rng)
        else:
            batch = collect_with_teacher(policy, (teacher, teacher_change), cfg, iteration,
                                         seeds, rng)
        save_episodes(out, iteration, batch)
        row = {}
        if model is not None:       # error on episodes the model has not seen
            row["prediction_nmse_fresh"] = prediction_errors(model, batch)[1]
        buffer.add(batch)
        if iteration == 0:
            fit_inputs(model, policy, buffer, cfg.input_change)
        if model is not None and (iteration == 0 or cfg.output_scale == "refit"):
            model.fit_scale(np.stack([episode["obs"] for episode in buffer.episodes]),
                            keep_predictions=iteration > 0)
        for _ in range(cfg.model_batches if model is not None else 0):
            obs, act, _ = buffer.windows(cfg.batch, length, rng, device)
            loss = model_loss(model, obs, act, cfg.warmup)
            model_opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 30.0)
            model_opt.step()
        imitation_errors = []
        for _ in range(cfg.policy_batches):
            if teacher is None:
                obs, act, target = buffer.windows(cfg.batch, length, rng, device)
                loss = policy_loss(policy, model, obs, act, target, cfg.warmup, cfg.horizon,
                                   loss=cfg.loss, bound_weight=cfg.output_bound_weight,
                                   input_change=cfg.input_change)
            else:
                loss = imitation_loss(policy, *buffer.whole_episodes(cfg.batch, rng, device,
                                                                     cfg.input_change))
                imitation_errors.append(loss.item())
            policy_opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 30.0)
            policy_opt.step()
        if imitation_errors:
            row["imitation_mse"] = float(np.mean(imitation_errors))
        metrics = evaluate(policy, model, cfg.task, cfg.eval_episodes, cfg.input_change)
        history.append({"iteration": iteration + 1, "episodes": len(buffer.episodes),
                        "seconds": round(time.time() - start, 1), **metrics, **row})
        bar.set_postfix(success=f"{metrics['success_rate']:.2f}",
                        dist=f"{metrics['final_distance']:.3f}",
                        **{k: f"{v:.3f}" for k, v in row.items()})
        result = run_summary(cfg, argv, policy, model, device, compiled, history,
                             teacher_sha256)
        save_run(out, policy, model, result)
        save_checkpoint(out, iteration + 1, policy, model, policy_opt, model_opt, rng)
    result = result or run_summary(cfg, argv, policy, model, device, compiled, history,
                                   teacher_sha256)
    result["evaluation"] = final_evaluation(policy, cfg.task, cfg.input_change)
    save_run(out, policy, model, result)
    plot_learning_curves([result], out / "learning_curves.png")
    return out


class MixedController:
    """Imitating: per episode (row), the teacher's or the policy's action; both networks run
    on every row, so the batch keeps one size (torch.compile'd kernels compile once).
    teacher and policy: runtime controllers of len(by_teacher) rows (policy_controller)."""

    def __init__(self, teacher, policy, by_teacher: np.ndarray):
        self.teacher, self.policy = teacher, policy
        self.by_teacher = by_teacher[:, None]

    def reset(self) -> None:
        self.teacher.reset()
        self.policy.reset()

    def act(self, x: np.ndarray) -> np.ndarray:
        return np.where(self.by_teacher, self.teacher.act(x), self.policy.act(x))


def collect_with_teacher(policy, teacher: tuple, cfg: SNNTrainConfig, iteration: int, seeds,
                         rng: np.random.Generator) -> dict:
    """One iteration's episodes when imitating (teacher: load_teacher's (network,
    input_change)): the teacher acts in some (imitation.teacher_acts), the policy in the
    others, both with cfg.noise; every step labelled with the teacher's action (teacher_act
    (E, L, a))."""
    network, teacher_change = teacher
    controller = MixedController(
        policy_controller(network, len(seeds), cfg.task, teacher_change),
        policy_controller(policy, len(seeds), cfg.task, cfg.input_change),
        teacher_acts(iteration, len(seeds), rng))
    batch = rollout(controller, cfg.task, seeds, cfg.noise, rng)
    batch["teacher_act"] = teacher_actions(network, batch, teacher_change)
    return batch


def run_summary(cfg: SNNTrainConfig, argv, policy, model, device, compiled: bool,
                history: list[dict], teacher_sha256: str | None = None) -> dict:
    """metrics.json's content after the iterations in `history` (teacher_sha256: the
    imitated run's runs.run_fingerprint)."""
    parameters = {"policy": parameter_count(policy)}
    if model is not None:
        parameters["model"] = parameter_count(model)
    return {"config": dataclasses.asdict(cfg),
            "command": " ".join(["loihi-deploy", *(argv or sys.argv[1:])]),
            "parameters": parameters,
            "runtime": {"device": str(device), "threads": torch.get_num_threads(),
                        "kernels_compiled": compiled, "torch": torch.__version__},
            "complete": len(history) == cfg.iterations,
            "final": history[-1], "history": history,
            "eval_seeds": [EVAL_SEED, EVAL_SEED + cfg.eval_episodes - 1],
            **({"teacher_sha256": teacher_sha256} if teacher_sha256 else {})}


def save_run(out: pathlib.Path, policy, model, result: dict) -> None:
    """OUT/policy.pt, model.pt (CPU state dicts; none when model is None), metrics.json;
    after every iteration, so a long run can be watched and its latest networks used if it
    is stopped."""
    out.mkdir(parents=True, exist_ok=True)
    for name, net in (("policy.pt", policy), ("model.pt", model)):
        if net is None:
            continue
        atomic_write_bytes(out / name, torch_bytes({k: v.cpu() for k, v in
                                                     net.state_dict().items()}))
    atomic_write_text(out / "metrics.json", json.dumps(result, indent=1))


def plot_learning_curves(results: list[dict], path: pathlib.Path,
                         labels: list[str] | None = None) -> None:
    """Success, final distance, time on target and the training error (the model's
    fresh-episode error, or the imitation MSE of a --teacher run) per iteration of one or
    more runs (metrics.json dicts), one line per run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    keys = ("success_rate", "final_distance", "time_on_target", "training_error")
    titles = ("success rate", "final distance (m)", "time on target",
              "model error (fresh) / imitation MSE")
    fig, axes = plt.subplots(1, len(keys), figsize=(3.3 * len(keys), 2.8), dpi=110)
    for i, result in enumerate(results):
        label = labels[i] if labels else \
            f"{result['config']['model']} ({result['parameters']['policy']} params)"
        iters = [h["iteration"] for h in result["history"]]
        for ax, key in zip(axes, keys):
            ax.plot(iters, [_curve_value(h, key) for h in result["history"]], label=label)
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[-1].set_yscale("log")          # the first iterations' error is 10-50x the last's
    rows = -(-len(results) // 3)        # legend below the panels, 3 runs per line
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=7)
    fig.set_figheight(2.8 + 0.2 * rows)
    fig.tight_layout(rect=(0, 0.2 * rows / (2.8 + 0.2 * rows) + 0.02, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def _curve_value(row: dict, key: str) -> float:
    if key == "training_error":
        return row.get("prediction_nmse_fresh", row.get("imitation_mse", float("nan")))
    return row.get(key, float("nan"))
