"""Train ReLU TD3/SAC policies with Stable-Baselines3, checkpointed and resumable, and export
the actor as a convertible policy file (state dict + metadata JSON).

Run directory layout (all writes are atomic: write to a temp file, then rename):
    model.zip            SB3 model (weights, optimiser state), every --checkpoint-every steps
    replay_buffer.pkl    SB3 replay buffer (for an exact-data resume)
    progress.json        timesteps done, evaluation history, best evaluation
    best_actor.pt        actor state dict with the best periodic evaluation so far
Re-running the same command resumes from model.zip (the env restarts a new episode).
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import platform
import shlex
import sys
import time

import gymnasium as gym
import numpy as np

from loihi_deploy.compiler.frontend import from_sequential, sha256_file
from loihi_deploy.training.configs import TrainConfig
from loihi_deploy.runtime.closed_loop import AnnController, episode_seeds, run_episodes
from loihi_deploy.runtime.envs import make_env, space_sizes

EVAL_SEED = 10_000  # evaluation episodes reset with seeds EVAL_SEED + i; training uses `seed`


def actor_sequential(model):
    """The deterministic actor of an SB3 TD3/SAC model as nn.Sequential(Linear, ReLU, ..., Tanh)."""
    import copy

    import torch.nn as nn
    actor = model.policy.actor
    if hasattr(actor, "latent_pi"):  # SAC: tanh(mu(latent_pi(obs)))
        return nn.Sequential(*copy.deepcopy(list(actor.latent_pi)), copy.deepcopy(actor.mu),
                             nn.Tanh())
    return copy.deepcopy(actor.mu)  # TD3: already Sequential(..., Tanh)


def evaluate_actor(module, env_id: str, episodes: int) -> np.ndarray:
    env = make_env(env_id)
    _, _, low, high = space_sizes(env)
    env.close()
    graph = from_sequential(module, low, high)
    return run_episodes(AnnController(graph), env_id, episode_seeds(EVAL_SEED, episodes)).returns


def _atomic_write_bytes(path: pathlib.Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _atomic_json(path: pathlib.Path, obj) -> None:
    _atomic_write_bytes(path, lambda p: p.write_text(json.dumps(obj, indent=2)))


def _save_state_dict(module, path: pathlib.Path) -> None:
    import torch
    state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    _atomic_write_bytes(path, lambda p: torch.save(state, p))


def library_versions() -> dict[str, str]:
    import gymnasium
    import mujoco
    import stable_baselines3
    import torch
    return {"python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "gymnasium": gymnasium.__version__,
            "mujoco": mujoco.__version__, "stable_baselines3": stable_baselines3.__version__}


def _make_model(cfg: TrainConfig, env):
    import torch.nn as nn
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise
    policy_kwargs = dict(net_arch=list(cfg.hidden), activation_fn=nn.ReLU)
    common = dict(learning_rate=3e-4, buffer_size=max(cfg.steps, 1), batch_size=256,
                  learning_starts=cfg.learning_starts, policy_kwargs=policy_kwargs,
                  seed=cfg.seed, device="cpu", verbose=0)
    if cfg.algo == "td3":
        act_dim = env.action_space.shape[0]
        noise = NormalActionNoise(np.zeros(act_dim), 0.1 * np.ones(act_dim))
        return TD3("MlpPolicy", env, action_noise=noise, **common)
    if cfg.algo == "sac":
        return SAC("MlpPolicy", env, **common)
    raise ValueError(f"--algo must be td3 or sac, got {cfg.algo!r}")


class ActionCost(gym.Wrapper):
    """Training-only reward shaping: r - cost * mean(((a - mid) / half_range) ** 2). A gentler
    expert (lower gains) is easier to imitate from pixels, where velocities are coarse."""

    def __init__(self, env: gym.Env, cost: float):
        super().__init__(env)
        self.cost = float(cost)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        space = self.env.action_space
        a = (np.asarray(action) - (space.high + space.low) / 2) / ((space.high - space.low) / 2)
        return obs, reward - self.cost * float(np.mean(a ** 2)), terminated, truncated, info


def _init_from(cfg: TrainConfig, env):
    """An SB3 model (weights, optimiser, no replay buffer) trained elsewhere, now on `env`,
    which must have the same spaces; its replay buffer is refilled from `env`."""
    from stable_baselines3 import SAC, TD3
    path = pathlib.Path(cfg.init_from)
    if path.is_dir():
        path = path / "model.zip"
    if not path.is_file():
        raise FileNotFoundError(f"--init-from {cfg.init_from}: no SB3 model.zip there")
    try:
        model = {"td3": TD3, "sac": SAC}[cfg.algo].load(path, env=env, device="cpu")
    except Exception as exc:  # noqa: BLE001 - wrong algorithm, other spaces, corrupt file
        raise ValueError(f"--init-from {path}: cannot start a {cfg.algo} run from it "
                         f"({type(exc).__name__}: {exc})") from None
    model.learning_starts = model.num_timesteps + cfg.learning_starts
    return model


def train(cfg: TrainConfig, argv: list[str] | None = None) -> pathlib.Path:
    """Train (or resume) and export; returns the exported policy path."""
    import torch
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm.auto import tqdm

    torch.set_num_threads(cfg.threads)
    run_dir = pathlib.Path(cfg.run_dir or f"runs/{cfg.env_id}-{cfg.algo}-s{cfg.seed}")
    run_dir.mkdir(parents=True, exist_ok=True)
    progress_path, model_path = run_dir / "progress.json", run_dir / "model.zip"
    buffer_path = run_dir / "replay_buffer.pkl"
    env = make_env(cfg.env_id)
    if cfg.action_cost:
        env = ActionCost(env, cfg.action_cost)
    progress = json.loads(progress_path.read_text()) if progress_path.exists() else \
        {"config": dataclasses.asdict(cfg), "evals": [], "best": None}
    if model_path.exists():
        try:  # the run directory's own checkpoints (written by this command)
            model = {"td3": TD3, "sac": SAC}[cfg.algo].load(model_path, env=env, device="cpu")
            if buffer_path.exists():
                model.load_replay_buffer(buffer_path)
        except Exception as exc:  # noqa: BLE001 - any failure here means a broken checkpoint
            raise ValueError(f"{run_dir}: cannot resume from the checkpoint ({type(exc).__name__}"
                             f": {exc}); restore model.zip / replay_buffer.pkl, or use a new "
                             f"--run-dir to start over") from None
        print(f"resuming {run_dir} at {model.num_timesteps} steps", file=sys.stderr)
    elif cfg.init_from:
        model = _init_from(cfg, env)
        print(f"starting from {cfg.init_from} (its {model.num_timesteps} steps count towards "
              f"--steps)", file=sys.stderr)
    else:
        model = _make_model(cfg, env)

    class Checkpoints(BaseCallback):
        def _on_training_start(self):
            self.bar = tqdm(total=cfg.steps, initial=self.model.num_timesteps, unit="step",
                            desc=f"{cfg.algo} {cfg.env_id}", smoothing=0.05)

        def _on_step(self) -> bool:
            n = self.model.num_timesteps
            self.bar.update(1)
            if n % cfg.eval_every == 0 or n == cfg.steps:
                actor = actor_sequential(self.model)
                returns = evaluate_actor(actor, cfg.env_id, cfg.eval_episodes)
                entry = {"steps": n, "mean": float(returns.mean()), "std": float(returns.std()),
                         "time": time.time()}
                progress["evals"].append(entry)
                if progress["best"] is None or entry["mean"] > progress["best"]["mean"]:
                    progress["best"] = entry
                    _save_state_dict(actor, run_dir / "best_actor.pt")
                self.bar.set_postfix(eval=f"{entry['mean']:.0f}",
                                     best=f"{progress['best']['mean']:.0f}")
            if n % cfg.checkpoint_every == 0 or n == cfg.steps:
                _atomic_write_bytes(model_path, self.model.save)
                _atomic_write_bytes(buffer_path, self.model.save_replay_buffer)
                progress["timesteps"] = n
                _atomic_json(progress_path, progress)
            return True

        def _on_training_end(self):
            self.bar.close()

    remaining = cfg.steps - model.num_timesteps
    if remaining > 0:
        model.learn(total_timesteps=remaining, callback=Checkpoints(), reset_num_timesteps=False,
                    progress_bar=False)
    return export(cfg, model, run_dir, progress, argv)


def export(cfg: TrainConfig, model, run_dir: pathlib.Path, progress: dict,
           argv: list[str] | None) -> pathlib.Path:
    """Evaluate last and best actors on final_eval_episodes, export the better one."""
    import torch
    candidates = {"last": actor_sequential(model)}
    best_path = run_dir / "best_actor.pt"
    if best_path.exists():
        best = actor_sequential(model)
        best.load_state_dict(torch.load(best_path, weights_only=True))
        candidates["best_periodic"] = best
    scored = {name: evaluate_actor(m, cfg.env_id, cfg.final_eval_episodes)
              for name, m in candidates.items()}
    chosen = max(scored, key=lambda k: scored[k].mean())
    out = pathlib.Path(cfg.out or run_dir / "policy.pt")
    out.parent.mkdir(parents=True, exist_ok=True)
    _save_state_dict(candidates[chosen], out)
    env = make_env(cfg.env_id)
    obs_dim, act_dim, low, high = space_sizes(env)
    env.close()
    returns = scored[chosen]
    meta = {
        "env_id": cfg.env_id, "algo": cfg.algo, "steps": int(model.num_timesteps),
        "seed": cfg.seed, "obs_dim": obs_dim, "act_dim": act_dim,
        "action_low": low.tolist(), "action_high": high.tolist(),
        "hidden": list(cfg.hidden), "activation": "relu", "head": "tanh",
        "selected": chosen, **({"init_from": cfg.init_from} if cfg.init_from else {}),
        **({"training_action_cost": cfg.action_cost} if cfg.action_cost else {}),
        "evaluation": {"episodes": len(returns), "mean": float(returns.mean()),
                       "std": float(returns.std()), "returns": returns.round(2).tolist(),
                       "deterministic": True,
                       "reset_seeds": f"{EVAL_SEED}..{EVAL_SEED + len(returns) - 1}"},
        "candidates": {k: float(v.mean()) for k, v in scored.items()},
        "command": "loihi-deploy " + " ".join(shlex.quote(a) for a in (argv or [])),
        "versions": library_versions(),
        "sha256": sha256_file(out),
    }
    _atomic_json(out.with_suffix(".json"), meta)
    print(f"exported {out} ({chosen}): {len(returns)}-episode return "
          f"{returns.mean():.1f} +- {returns.std():.1f}")
    return out
