"""Pixel policies by distillation: a state-based expert teaches a convolutional actor that sees
only rendered frames (DAgger, Ross et al. 2011), since DrQ-v2 from scratch is out of reach on
CPUs.

The actor (pixel_actor) is DrQ-v2-style, sized for CPUs: a conv encoder on the 9x84x84 stacked
frames (x / 255 - 0.5), then a ReLU trunk and a tanh head; every layer converts to spikes.
    Conv(9->16, 4x4, stride 4) ReLU  Conv(16->32, 3x3, stride 2) ReLU  Conv(32->32, 3x3) ReLU
    Flatten  Linear(2048->256) ReLU  Linear(256->256) ReLU  Linear(256->act) Tanh

DAgger iteration i (0..iterations-1): run `episodes` episodes of the pixel env; at every decision
the expert labels the true state (the env's own state observation) with its action, and the
env executes the expert's action with probability beta_i = 0.5**i (i = 0: pure expert), the
student's otherwise, plus Gaussian noise of `noise` (in [-1, 1] action units; DART, Laskey et
al. 2017: it shows the student the states next to the expert's path); the labelled frames join
the dataset; the student is trained on the whole dataset (MSE in the tanh's [-1, 1] action
units; optionally with DrQ's random shift of up to `shift` pixels, off by default: with a
fixed camera a shift moves the cart and changes the label), then is evaluated.

Run directory (resumable: re-run the same command; a larger --iterations extends the run,
other settings are refused): data_<i>.npz (frames uint8, labels), student.pt, progress.json. Output: <out>.pt (state dict) + <out>.json (metadata, as the zoo's).
"""
from __future__ import annotations

import dataclasses
import io
import pathlib
import shlex
import time

import numpy as np

from loihi_deploy.compiler.frontend import from_sequential, sha256_file
from loihi_deploy.compiler.files import (atomic_write_bytes, read_json_object, read_npz,
                                         read_torch_weights, schema_error)
from loihi_deploy.training.checkpoint import non_finite_tensor, load_module_state, torch_bytes
from loihi_deploy.training.configs import DistillConfig, check_resume_settings
from loihi_deploy.api import load_ann
from loihi_deploy.training.train import _atomic_json, _save_state_dict, library_versions
from loihi_deploy.runtime import pixels
from loihi_deploy.runtime.closed_loop import AnnController, episode_seeds, run_episodes
from loihi_deploy.runtime.envs import make_env, space_sizes

EVAL_SEED = 10_000       # evaluation resets, as the zoo's
COLLECT_SEED = 20_000    # data collection resets: COLLECT_SEED + 1000 * iteration + episode
CONV_SPECS = ({"out": 16, "kernel": 4, "stride": 4}, {"out": 32, "kernel": 3, "stride": 2},
              {"out": 32, "kernel": 3, "stride": 1})
INPUT_NORMALISATION = {"scale": 1 / 255, "offset": -0.5}


def pixel_actor(obs_shape: tuple[int, int, int], act_dim: int, hidden: int = 256):
    """The convertible pixel actor (module docstring) as nn.Sequential."""
    import torch.nn as nn
    layers, channels, size = [], obs_shape[0], obs_shape[1]
    for spec in CONV_SPECS:
        layers += [nn.Conv2d(channels, spec["out"], spec["kernel"], stride=spec["stride"]),
                   nn.ReLU()]
        channels, size = spec["out"], (size - spec["kernel"]) // spec["stride"] + 1
    layers += [nn.Flatten(), nn.Linear(channels * size * size, hidden), nn.ReLU(),
               nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, act_dim), nn.Tanh()]
    return nn.Sequential(*layers)


def _normalise(frames):
    """(B, C, H, W) tensor of pixel values 0..255 -> float32 in [-0.5, 0.5]."""
    return frames.float() * INPUT_NORMALISATION["scale"] + INPUT_NORMALISATION["offset"]


def _collect(cfg: DistillConfig, expert, student, iteration: int) -> dict:
    """One DAgger iteration's episodes: frames (N, C, H, W) uint8, labels (N, act) in [-1, 1],
    and the return of each episode."""
    import torch
    rng = np.random.default_rng(cfg.seed * 7919 + iteration)
    beta = 0.5 ** iteration
    env = make_env(cfg.env_id)
    shape = pixels.pixel_shape()
    head = expert.head
    frames, labels, returns = [], [], []
    try:
        for episode in range(cfg.episodes):
            obs, _ = env.reset(seed=COLLECT_SEED + 1000 * iteration + episode)
            total, done = 0.0, False
            while not done:
                state = env.unwrapped._get_obs()[None, :]
                expert_action = expert.forward(state)[0]
                frames.append(obs.reshape(shape))
                labels.append((expert_action - head.offset) / head.scale)
                action = expert_action
                if rng.random() >= beta:
                    with torch.no_grad():
                        z = student(_normalise(torch.from_numpy(obs.reshape(1, *shape))))
                    action = head.offset + head.scale * z[0].double().numpy()
                action = np.clip(action + head.scale * cfg.noise * rng.normal(size=action.shape),
                                 head.offset - head.scale, head.offset + head.scale)
                obs, reward, terminated, truncated, _ = env.step(action)
                total += reward
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return {"frames": np.stack(frames).astype(np.uint8),
            "labels": np.clip(np.stack(labels), -1, 1).astype(np.float32),
            "returns": np.array(returns)}


def _random_shift(frames, rng: np.random.Generator, pad: int = 4):
    """(B, C, H, W) frames, each shifted by up to `pad` pixels (edges replicated; DrQ)."""
    import torch
    import torch.nn.functional as F
    b, _, h, w = frames.shape
    padded = F.pad(frames.float(), (pad, pad, pad, pad), mode="replicate")
    dy, dx = rng.integers(0, 2 * pad + 1, size=(2, b))
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])


def _train(student, optimiser, frames: np.ndarray, labels: np.ndarray, cfg: DistillConfig,
           bar) -> float:
    """`updates` minibatch MSE steps on uniformly drawn samples; returns the mean loss of the
    last 10% of the steps."""
    import torch
    rng = np.random.default_rng(cfg.seed + len(frames))
    losses = []
    for _ in range(cfg.updates):
        idx = np.sort(rng.choice(len(frames), size=min(cfg.batch_size, len(frames)),
                                 replace=False))
        x = torch.from_numpy(frames[idx])
        x = _normalise(_random_shift(x, rng, cfg.shift) if cfg.shift else x)
        loss = torch.mean((student(x) - torch.from_numpy(labels[idx])) ** 2)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        bar.update(1)
    return float(np.mean(losses[-max(1, len(losses) // 10):]))


def _evaluate(student, cfg: DistillConfig, low, high, episodes: int) -> np.ndarray:
    """The student as the compiler sees it (frontend AnnGraph) on the pixel env."""
    graph = from_sequential(student, low, high, input_shape=pixels.pixel_shape(),
                            normalisation=INPUT_NORMALISATION)
    return run_episodes(AnnController(graph), cfg.env_id,
                        episode_seeds(EVAL_SEED, episodes)).returns


def _conv_meta() -> list[dict]:
    return [{"stride": s["stride"], "padding": 0} for s in CONV_SPECS]


def expert_reference(expert_name: str, env_id: str, episodes: int) -> np.ndarray:
    """The state-based expert's returns on the pixel task's decisions (its '-repeat2' env:
    same action repeat, same reset seeds as the student's evaluation)."""
    state_env = pixels.state_env_id(env_id)
    expert = load_ann(expert_name, state_env)
    return run_episodes(AnnController(expert), state_env + pixels.REPEAT_SUFFIX,
                        episode_seeds(EVAL_SEED, episodes)).returns


def distill(cfg: DistillConfig, argv: list[str] | None = None) -> pathlib.Path:
    """Run (or resume) DAgger and export the student; returns the policy path."""
    import torch
    from tqdm.auto import tqdm

    if not pixels.is_pixel_env(cfg.env_id):
        raise ValueError(f"distill: --env must be a pixel env id (e.g. "
                         f"{cfg.env_id}{pixels.PIXEL_SUFFIX}), got {cfg.env_id!r}")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    state_env = pixels.state_env_id(cfg.env_id)
    expert = load_ann(cfg.expert, state_env)
    env = make_env(state_env)
    _, act_dim, low, high = space_sizes(env)
    env.close()
    run_dir = pathlib.Path(cfg.run_dir or f"runs/distill-{cfg.env_id}-s{cfg.seed}")
    student = pixel_actor(pixels.pixel_shape(), act_dim, cfg.hidden)
    optimiser = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    progress_path, student_path = run_dir / "progress.json", run_dir / "student.pt"
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--run-dir {run_dir}: is a file; distill writes a folder there")
    progress = _read_progress(progress_path, cfg) if progress_path.exists() else \
        {"config": dataclasses.asdict(cfg), "iterations": []}
    done = len(progress["iterations"])
    if student_path.exists() != (done > 0):
        raise ValueError(f"{run_dir}: holds {'student.pt' if done == 0 else 'progress.json'} "
                         f"without {'progress.json' if done == 0 else 'student.pt'} (an "
                         f"iteration that did not finish, or damaged files), so it cannot be "
                         f"continued; use a new --run-dir")
    if done:
        _resume_student(student_path, student, optimiser, done)
        print(f"resuming {run_dir} after {done} iterations")
    frames, labels = [], []
    for i in range(done):    # every saved iteration checked before anything new is written
        path = run_dir / f"data_{i}.npz"
        data = _read_data(path, act_dim)
        frames.append(data["frames"])
        labels.append(data["labels"])
        if sum(len(f) for f in frames) != progress["iterations"][i]["frames"]:
            raise ValueError(f"{path}: {len(data['frames'])} frames, but progress.json counts "
                             f"{progress['iterations'][i]['frames']} after iteration {i + 1}; "
                             f"the run folder is damaged")
    for it in range(len(progress["iterations"]), cfg.iterations):
        start = time.time()
        batch = _collect(cfg, expert, student, it)
        data_bytes = io.BytesIO()
        np.savez(data_bytes, frames=batch["frames"], labels=batch["labels"])
        atomic_write_bytes(run_dir / f"data_{it}.npz", data_bytes.getvalue())
        frames.append(batch["frames"])
        labels.append(batch["labels"])
        all_frames, all_labels = np.concatenate(frames), np.concatenate(labels)
        with tqdm(total=cfg.updates, unit="update", leave=False,
                  desc=f"distill {cfg.env_id} iteration {it + 1}/{cfg.iterations}") as bar:
            loss = _train(student, optimiser, all_frames, all_labels, cfg, bar)
        returns = _evaluate(student, cfg, low, high, cfg.eval_episodes)
        entry = {"iteration": it, "beta": 0.5 ** it, "frames": int(len(all_frames)),
                 "updates": cfg.updates, "noise": cfg.noise,
                 "collect_return": float(batch["returns"].mean()), "loss": loss,
                 "eval_mean": float(returns.mean()), "eval_std": float(returns.std()),
                 "seconds": round(time.time() - start, 1)}
        progress["iterations"].append(entry)
        best = progress.get("best")
        if best is None or entry["eval_mean"] > best["eval_mean"]:
            progress["best"] = entry
            _save_state_dict(student, run_dir / "best_student.pt")
        atomic_write_bytes(student_path, torch_bytes({"student": student.state_dict(),
                                                      "optimiser": optimiser.state_dict(),
                                                      "iterations": it + 1}))
        _atomic_json(progress_path, progress)
        print(f"iteration {it + 1}/{cfg.iterations}: {entry['frames']} frames, loss {loss:.4f}, "
              f"return {entry['eval_mean']:.1f} ± {entry['eval_std']:.1f} (std) "
              f"({entry['seconds']:.0f} s)", flush=True)
    candidates = {"last": student}
    best_path = run_dir / "best_student.pt"
    if best_path.exists() and progress.get("best") is not None:
        best = load_module_state(pixel_actor(pixels.pixel_shape(), act_dim, cfg.hidden),
                                 read_torch_weights(best_path), str(best_path),
                                 "remove it or use a new --run-dir")
        candidates[f"best_periodic (iteration {progress['best']['iteration'] + 1})"] = best
    return _export(cfg, candidates, low, high, act_dim, progress, argv)


# settings a resumed run may change; the rest must be the saved run's (its progress.json)
CHANGEABLE_ON_RESUME = ("iterations", "threads", "run_dir", "out")
ENTRY = {"iteration": int, "frames": int, "eval_mean": (int, float)}   # what resuming reads


def _read_progress(path: pathlib.Path, cfg: DistillConfig) -> dict:
    """progress.json of a run to continue: the saved settings are cfg's (but
    CHANGEABLE_ON_RESUME), at most cfg.iterations done, every entry well formed."""
    progress = read_json_object(path, {"iterations": list})
    check_resume_settings(str(path.parent), progress.get("config"), cfg, CHANGEABLE_ON_RESUME,
                          "use a new --run-dir")
    entries = progress["iterations"]
    if len(entries) > cfg.iterations:
        raise ValueError(f"{path.parent}: the run has done {len(entries)} iterations, more "
                         f"than --iterations {cfg.iterations}; pass --iterations "
                         f"{len(entries)} or more to continue it")
    best = progress.get("best")
    for i, entry in enumerate(entries + ([best] if best is not None else [])):
        what = "best" if i == len(entries) else f"iterations[{i}]"
        error = schema_error(entry, ENTRY, what)
        if error is None and not (0 <= entry["iteration"] < len(entries) and
                                  entry["frames"] >= 0):
            error = f"iteration {entry['iteration']} of {len(entries)}, frames {entry['frames']}"
        if error:
            raise ValueError(f"{path}: {what} is malformed ({error}); the run folder is "
                             f"damaged")
    return progress


def _resume_student(path: pathlib.Path, student, optimiser, done: int) -> None:
    """student.pt (the student and its Adam state after `done` iterations) into place."""
    saved = read_torch_weights(path)
    if not isinstance(saved, dict) or not {"student", "optimiser"} <= set(saved):
        raise ValueError(f"{path}: not a distill checkpoint (expected student and optimiser)")
    if saved.get("iterations", done) != done:
        raise ValueError(f"{path}: saved after {saved['iterations']!r} iterations, "
                         f"progress.json counts {done}; the run folder is damaged")
    load_module_state(student, saved["student"], str(path), "use a new --run-dir")
    bad = non_finite_tensor(saved["optimiser"])
    if bad:
        raise ValueError(f"{path}: optimiser {bad} holds NaN or Inf; the file is damaged")
    try:
        optimiser.load_state_dict(saved["optimiser"])
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{path}: its optimiser state does not fit the student "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None


def _read_data(path: pathlib.Path, act_dim: int) -> dict:
    """One iteration's data_<i>.npz: frames (N, C, H, W) uint8, labels (N, act_dim) float32
    in [-1, 1]; ValueError naming the file otherwise."""
    data = read_npz(path, ("frames", "labels"))
    frames, labels = data["frames"], data["labels"]
    shape = tuple(pixels.pixel_shape())
    if frames.dtype != np.uint8 or frames.shape[1:] != shape or labels.dtype != np.float32 or \
            labels.shape != (len(frames), act_dim) or not len(frames):
        raise ValueError(f"{path}: frames {frames.shape} {frames.dtype} and labels "
                         f"{labels.shape} {labels.dtype}; expected (N, {', '.join(map(str, shape))})"
                         f" uint8 and (N, {act_dim}) float32, N > 0")
    if not (np.isfinite(labels).all() and np.abs(labels).max() <= 1):
        raise ValueError(f"{path}: labels hold NaN, Inf or values outside [-1, 1]")
    return data


def _export(cfg: DistillConfig, candidates: dict, low, high, act_dim: int, progress: dict,
            argv: list[str] | None) -> pathlib.Path:
    """Evaluate the last and the best periodic student on final_eval_episodes, export the
    better one (as `train` does)."""
    out = pathlib.Path(cfg.out or pathlib.Path(cfg.run_dir or "runs") / "pixel_policy.pt")
    out.parent.mkdir(parents=True, exist_ok=True)
    scored = {name: _evaluate(m, cfg, low, high, cfg.final_eval_episodes)
              for name, m in candidates.items()}
    chosen = max(scored, key=lambda k: scored[k].mean())
    student, returns = candidates[chosen], scored[chosen]
    expert = expert_reference(cfg.expert, cfg.env_id, cfg.final_eval_episodes)
    _save_state_dict(student, out)
    meta = {
        "env_id": cfg.env_id, "algo": "dagger", "expert": cfg.expert,
        "iterations": cfg.iterations, "episodes_per_iteration": cfg.episodes,
        "frames": progress["iterations"][-1]["frames"] if progress["iterations"] else 0,
        "seed": cfg.seed, "obs_dim": int(np.prod(pixels.pixel_shape())), "act_dim": act_dim,
        "action_low": np.asarray(low).tolist(), "action_high": np.asarray(high).tolist(),
        "input": {"shape": list(pixels.pixel_shape()), **INPUT_NORMALISATION,
                  "frames": pixels.FRAMES, "action_repeat": pixels.ACTION_REPEAT},
        "conv": _conv_meta(), "hidden": [cfg.hidden, cfg.hidden], "activation": "relu",
        "head": "tanh", "selected": chosen,
        "candidates": {k: float(v.mean()) for k, v in scored.items()},
        "evaluation": {"episodes": len(returns), "mean": float(returns.mean()),
                       "std": float(returns.std()), "returns": returns.round(2).tolist(),
                       "deterministic": True,
                       "reset_seeds": f"{EVAL_SEED}..{EVAL_SEED + len(returns) - 1}"},
        "expert_evaluation": {"episodes": len(expert), "mean": float(expert.mean()),
                              "std": float(expert.std()),
                              "note": "state observations, same action repeat and seeds"},
        "history": progress["iterations"],
        "command": "loihi-deploy " + " ".join(shlex.quote(a) for a in (argv or [])),
        "versions": library_versions(),
        "sha256": sha256_file(out),
    }
    _atomic_json(out.with_suffix(".json"), meta)
    print(f"exported {out}: {len(returns)}-episode return {returns.mean():.1f} ± "
          f"{returns.std():.1f} (expert with action repeat {pixels.ACTION_REPEAT}: "
          f"{expert.mean():.1f} ± {expert.std():.1f}; mean ± std)")
    return out
