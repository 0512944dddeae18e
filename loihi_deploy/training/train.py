"""Train ReLU TD3/SAC policies with Stable-Baselines3, checkpointed and resumable, and export
the actor as a convertible policy file (state dict + metadata JSON).

Run directory layout (all writes are atomic: write to a temp file, then rename):
    checkpoint/          every --checkpoint-every steps, no pickle (training.checkpoint):
                         params.pt (networks and optimisers), replay_buffer.npz (the
                         buffer's arrays, at most MAX_REPLAY_BUFFER transitions), state.json
    progress.json        timesteps done, evaluation history, best evaluation
    best_actor.pt        actor state dict with the best periodic evaluation so far
Re-running the same command resumes from checkpoint/ (the env restarts a new episode); only
CHANGEABLE_ON_RESUME may differ from the saved settings, a larger --steps extends the run.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import platform
import shlex
import sys
import time

import gymnasium as gym
import numpy as np

from loihi_deploy.compiler.files import (atomic_write_bytes, atomic_write_text, read_json_object,
                                         read_torch_weights)
from loihi_deploy.compiler.frontend import from_sequential, sha256_file
from loihi_deploy.compiler.limits import MAX_REPLAY_BUFFER
from loihi_deploy.training.checkpoint import (CheckpointError, load_checkpoint,
                                              load_module_state, load_sb3_zip, read_counters,
                                              save_checkpoint, torch_bytes)
from loihi_deploy.training.configs import TrainConfig, check_resume_settings
from loihi_deploy.runtime.closed_loop import AnnController, episode_seeds, run_episodes
from loihi_deploy.runtime.envs import make_env, parse_env_kwargs, space_sizes

CHECKPOINT = "checkpoint"  # RUN_DIR/checkpoint: params.pt, replay_buffer.npz, state.json
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


def evaluate_actor(module, env_id: str, episodes: int,
                   env_kwargs: dict | None = None) -> np.ndarray:
    env = make_env(env_id, env_kwargs)
    _, _, low, high = space_sizes(env)
    env.close()
    graph = from_sequential(module, low, high)
    return run_episodes(AnnController(graph), env_id, episode_seeds(EVAL_SEED, episodes),
                        env_kwargs=env_kwargs).returns


def _atomic_json(path: pathlib.Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2))


def _save_state_dict(module, path: pathlib.Path) -> None:
    atomic_write_bytes(path, torch_bytes({k: v.detach().clone()
                                          for k, v in module.state_dict().items()}))


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
    common = dict(learning_rate=3e-4, buffer_size=min(cfg.steps, MAX_REPLAY_BUFFER),
                  batch_size=256,
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
    """A model trained elsewhere (an SB3 model.zip, or a run folder of `train`), now on `env`,
    which must have the same spaces: weights and optimiser state only, read without pickle
    (training.checkpoint); its replay buffer is refilled from `env`."""
    path = pathlib.Path(cfg.init_from)
    model = _make_model(cfg, env)
    try:
        if (path / CHECKPOINT / "params.pt").is_file():
            load_checkpoint(model, path / CHECKPOINT, with_buffer=False)
            steps = model.num_timesteps
        elif path.is_file() or (path / "model.zip").is_file():
            steps = load_sb3_zip(model, path if path.is_file() else path / "model.zip")
        else:
            raise FileNotFoundError(f"--init-from {cfg.init_from}: neither an SB3 model.zip "
                                    f"nor a run folder with {CHECKPOINT}/params.pt")
    except CheckpointError as exc:
        raise ValueError(f"--init-from: cannot start a {cfg.algo} run from it: {exc}") from None
    if steps >= cfg.steps:
        raise ValueError(f"--init-from {cfg.init_from}: its model has done {steps} steps, which "
                         f"count towards --steps {cfg.steps}: nothing would be trained; pass "
                         f"--steps above {steps}")
    model.num_timesteps = steps
    model.learning_starts = steps + cfg.learning_starts
    return model


# settings a resumed run may change; the rest must be the saved run's (its progress.json)
CHANGEABLE_ON_RESUME = ("steps", "threads", "eval_every", "checkpoint_every", "run_dir", "out")


def _check_resume(cfg: TrainConfig, run_dir: pathlib.Path) -> bool:
    """Whether run_dir holds a checkpoint to continue, after checking it may be: the saved
    settings are cfg's (but CHANGEABLE_ON_RESUME) and --steps is not below the steps done. A
    folder with checkpoint files but no state.json (written last) is refused, not restarted
    over."""
    checkpoint = run_dir / CHECKPOINT
    if not (checkpoint / "state.json").exists():
        partial = [p.name for p in (checkpoint / "params.pt", checkpoint / "replay_buffer.npz",
                                    run_dir / "progress.json") if p.exists()]
        if partial:
            raise ValueError(f"{run_dir}: holds {', '.join(partial)} but no {CHECKPOINT}/"
                             f"state.json (a checkpoint that did not finish, or a damaged "
                             f"one), so it cannot be continued; use a new --run-dir")
        return False
    try:
        done = read_counters(checkpoint)["num_timesteps"]
    except CheckpointError as exc:
        raise ValueError(f"{run_dir}: cannot resume from the checkpoint ({exc}); use a new "
                         f"--run-dir to start over") from None
    progress = read_json_object(run_dir / "progress.json", {"evals": list}) \
        if (run_dir / "progress.json").exists() else {}
    check_resume_settings(str(run_dir), progress.get("config"), cfg, CHANGEABLE_ON_RESUME,
                          "use a new --run-dir")
    if done > cfg.steps:
        raise ValueError(f"{run_dir}: the run has done {done} steps, more than --steps "
                         f"{cfg.steps}; pass --steps {done} or more to continue it")
    return True


def _load_actor(actor, path: pathlib.Path):
    """best_actor.pt into `actor` (actor_sequential's), checked (names, shapes, finite)."""
    return load_module_state(actor, read_torch_weights(path), str(path),
                             "remove it or use a new --run-dir")


def train(cfg: TrainConfig, argv: list[str] | None = None) -> pathlib.Path:
    """Train (or resume) and export; returns the exported policy path."""
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm.auto import tqdm

    torch.set_num_threads(cfg.threads)
    run_dir = pathlib.Path(cfg.run_dir or f"runs/{cfg.env_id}-{cfg.algo}-s{cfg.seed}")
    progress_path, checkpoint = run_dir / "progress.json", run_dir / CHECKPOINT
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--run-dir {run_dir}: is a file; train writes a folder there")
    resuming = _check_resume(cfg, run_dir)
    env = make_env(cfg.env_id, parse_env_kwargs(cfg.env_kwargs))
    if cfg.action_cost:
        env = ActionCost(env, cfg.action_cost)
    progress = read_json_object(progress_path, {"evals": list}) if progress_path.exists() \
        else {"config": dataclasses.asdict(cfg), "evals": [], "best": None}
    if not isinstance(progress.get("best"), (dict, type(None))):
        raise ValueError(f"{progress_path}: malformed field best (expected an object or null)")
    progress.setdefault("best", None)
    legacy = [n for n in ("model.zip", "replay_buffer.pkl") if (run_dir / n).exists()]
    if resuming:
        model = _make_model(cfg, env)
        try:
            load_checkpoint(model, checkpoint)
        except CheckpointError as exc:
            raise ValueError(f"{run_dir}: cannot resume from the checkpoint ({exc}); use a new "
                             f"--run-dir to start over") from None
        print(f"resuming {run_dir} at {model.num_timesteps} steps", file=sys.stderr)
    elif legacy:
        raise ValueError(f"{run_dir}: holds {' and '.join(legacy)} from an older loihi-deploy; "
                         f"those are pickle files, which loihi-deploy never loads (they can run "
                         f"code). Start a new --run-dir (--init-from {run_dir / 'model.zip'} "
                         f"keeps its weights, read without pickle)")
    elif cfg.init_from:
        model = _init_from(cfg, env)
        print(f"starting from {cfg.init_from} (its {model.num_timesteps} steps count towards "
              f"--steps)", file=sys.stderr)
    else:
        model = _make_model(cfg, env)
    best_path = run_dir / "best_actor.pt"
    if resuming and best_path.exists():      # checked now, not after training
        _load_actor(actor_sequential(model), best_path)

    class Checkpoints(BaseCallback):
        def _on_training_start(self):
            self.bar = tqdm(total=cfg.steps, initial=self.model.num_timesteps, unit="step",
                            desc=f"{cfg.algo} {cfg.env_id}", smoothing=0.05)

        def _on_step(self) -> bool:
            n = self.model.num_timesteps
            self.bar.update(1)
            if n % cfg.eval_every == 0 or n == cfg.steps:
                actor = actor_sequential(self.model)
                returns = evaluate_actor(actor, cfg.env_id, cfg.eval_episodes,
                                         parse_env_kwargs(cfg.env_kwargs))
                entry = {"steps": n, "mean": float(returns.mean()), "std": float(returns.std()),
                         "time": time.time()}
                progress["evals"].append(entry)
                if progress["best"] is None or entry["mean"] > progress["best"]["mean"]:
                    progress["best"] = entry
                    _save_state_dict(actor, run_dir / "best_actor.pt")
                self.bar.set_postfix(eval=f"{entry['mean']:.0f}",
                                     best=f"{progress['best']['mean']:.0f}")
            if n % cfg.checkpoint_every == 0 or n == cfg.steps:
                save_checkpoint(self.model, checkpoint)
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
    candidates = {"last": actor_sequential(model)}
    best_path = run_dir / "best_actor.pt"
    if best_path.exists():
        candidates["best_periodic"] = _load_actor(actor_sequential(model), best_path)
    env_kwargs = parse_env_kwargs(cfg.env_kwargs)
    scored = {name: evaluate_actor(m, cfg.env_id, cfg.final_eval_episodes, env_kwargs)
              for name, m in candidates.items()}
    chosen = max(scored, key=lambda k: scored[k].mean())
    out = pathlib.Path(cfg.out or run_dir / "policy.pt")
    out.parent.mkdir(parents=True, exist_ok=True)
    _save_state_dict(candidates[chosen], out)
    env = make_env(cfg.env_id, env_kwargs)
    obs_dim, act_dim, low, high = space_sizes(env)
    env.close()
    returns = scored[chosen]
    meta = {
        "env_id": cfg.env_id, **({"env_kwargs": env_kwargs} if env_kwargs else {}),
        "algo": cfg.algo, "steps": int(model.num_timesteps),
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
          f"{returns.mean():.1f} ± {returns.std():.1f} (mean ± std)")
    return out
