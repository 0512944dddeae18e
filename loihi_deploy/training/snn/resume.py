"""Checkpoints of `train-snn` and resuming from them (docs/snn_control.md, Training: resume.py).

Besides policy.pt, model.pt and metrics.json, a run folder holds

    episodes/NNNNN.npz  the episodes collected in iteration NNNNN (0-based): obs (E, L+1, d),
                        act (E, L, a), target (E, t), float64; written once, when collected
    checkpoint.pt       after every iteration, written last: both networks, both optimisers
                        (the policy's only when imitating: no forward model), the numpy and
                        torch random states and the number of iterations done

Re-running train-snn on a folder that holds a checkpoint continues the run with the data,
optimiser moments and random streams an uninterrupted run would have had, so its numbers are
the same; a larger --iterations extends a finished run (with --lr-schedule cosine the
remaining iterations then follow the schedule of the new total). Only --iterations,
--threads, --device and --kernels may differ from the saved configuration.

Every file is read as untrusted input (docs/reliability.md): bounded sizes, torch files
weights-only, npz without pickle, every shape checked against the run's configuration, and
any problem a ValueError naming the file.
"""
from __future__ import annotations

import dataclasses
import io
import pathlib

import numpy as np
import torch

from loihi_deploy.compiler.files import (atomic_write_bytes, read_json_object, read_npz,
                                         read_torch_weights)
from loihi_deploy.compiler.limits import MAX_ITERATIONS
from loihi_deploy.training.checkpoint import non_finite_tensor, torch_bytes
from loihi_deploy.training.configs import check_resume_settings
from loihi_deploy.training.snn.tasks import EPISODE_STEPS, task_type

CHANGEABLE_ON_RESUME = ("iterations", "threads", "device", "kernels", "out")
# settings added after runs existed, whose default differs from what those runs did
BEFORE_THE_OPTION = {"input_change": False}
CHECKPOINT = "checkpoint.pt"


def episodes_path(out: pathlib.Path, iteration: int) -> pathlib.Path:
    return out / "episodes" / f"{iteration:05d}.npz"


def save_episodes(out: pathlib.Path, iteration: int, batch: dict) -> None:
    """The episodes collected in `iteration` (a rollout dict: obs, act, target)."""
    data = io.BytesIO()
    np.savez(data, obs=batch["obs"], act=batch["act"], target=batch["target"])
    atomic_write_bytes(episodes_path(out, iteration), data.getvalue())


def save_checkpoint(out: pathlib.Path, iterations: int, policy, model, policy_opt, model_opt,
                    rng: np.random.Generator) -> None:
    """Everything an uninterrupted run would carry into iteration `iterations` (0-based) besides
    the episodes, in one file written atomically after the iteration's other files (model
    and model_opt None: a run without a forward model)."""
    as_cpu = lambda net: {k: v.cpu() for k, v in net.state_dict().items()}  # noqa: E731
    state = {"iterations": iterations, "policy": as_cpu(policy),
             "policy_optimizer": policy_opt.state_dict(),
             "torch_rng": torch.get_rng_state(), "numpy_rng": rng.bit_generator.state}
    if model is not None:
        state.update(model=as_cpu(model), model_optimizer=model_opt.state_dict())
    atomic_write_bytes(out / CHECKPOINT, torch_bytes(state))


@dataclasses.dataclass
class Resumed:
    iterations: int            # iterations done
    history: list[dict]        # their metrics.json rows
    batches: list[dict]        # their episodes, in order (obs, act, target)
    evaluation: dict | None    # the final evaluation, when the saved run had finished


def load_checkpoint(out: pathlib.Path, cfg, policy, model, policy_opt, model_opt,
                    rng: np.random.Generator, teacher_sha256: str | None = None
                    ) -> Resumed | None:
    """None when `out` holds no run; else the saved run restored into the freshly built
    networks, optimisers and generator (in place), after checking it against `cfg` and, when
    imitating, the teacher's fingerprint against the one the run recorded."""
    metrics_path, checkpoint_path = out / "metrics.json", out / CHECKPOINT
    if not metrics_path.exists() and not checkpoint_path.exists():
        return None
    if not checkpoint_path.exists():
        raise ValueError(f"{out}: holds a training run without {CHECKPOINT} (written before "
                         f"train-snn saved checkpoints, or not by train-snn), so it cannot be "
                         f"continued; use a new --out")
    saved = read_json_object(metrics_path, {"config": dict, "history": list})
    check_resume_settings(str(out), saved["config"], cfg, CHANGEABLE_ON_RESUME,
                          "use a new --out", BEFORE_THE_OPTION)
    recorded = saved.get("teacher_sha256")
    if teacher_sha256 and recorded and recorded != teacher_sha256:
        raise ValueError(f"{out}: imitated another run than the one now in --teacher "
                         f"{cfg.teacher} (its policy.pt or config changed since: fingerprint "
                         f"{recorded[:12]}..., now {teacher_sha256[:12]}...); use a new --out")
    state = read_torch_weights(checkpoint_path)
    keys = ("iterations", "policy", "policy_optimizer", "torch_rng", "numpy_rng") + \
        (("model", "model_optimizer") if model is not None else ())
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise ValueError(f"{checkpoint_path}: not a train-snn checkpoint (expected the keys "
                         f"{', '.join(keys)})")
    done = state["iterations"]
    if not isinstance(done, int) or not 1 <= done <= MAX_ITERATIONS:
        raise ValueError(f"{checkpoint_path}: iterations must be an integer in [1, "
                         f"{MAX_ITERATIONS}], got {done!r}")
    if done > cfg.iterations:
        raise ValueError(f"{out}: the run has done {done} iterations, more than --iterations "
                         f"{cfg.iterations}; pass --iterations {done} or more to continue it")
    history = saved["history"][:done]
    if len(history) < done or not all(isinstance(row, dict) and
                                      isinstance(row.get("seconds"), (int, float))
                                      for row in history):
        raise ValueError(f"{metrics_path}: history holds {len(saved['history'])} rows, the "
                         f"checkpoint {done} iterations (or a row is malformed)")
    bad = _non_finite(state)
    if bad:      # NaN weights or Adam moments would surface as a "non-finite observation"
        raise ValueError(f"{checkpoint_path}: {bad} holds NaN, Inf or a negative second "
                         f"moment or step; the checkpoint is damaged")
    try:
        for name, net in (("policy", policy), ("model", model)):
            if net is not None:
                net.load_state_dict(state[name])
        for name, opt in (("policy_optimizer", policy_opt), ("model_optimizer", model_opt)):
            if opt is None:
                continue
            _check_optimizer_state(state[name], opt)
            opt.load_state_dict(state[name])
        torch.set_rng_state(state["torch_rng"])
        rng.bit_generator.state = state["numpy_rng"]
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError) as exc:
        raise ValueError(f"{checkpoint_path}: does not fit this run's networks ("
                         f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    batches = [load_episodes(episodes_path(out, i), cfg) for i in range(done)]
    evaluation = saved.get("evaluation") if done == len(saved["history"]) else None
    return Resumed(done, history, batches, evaluation if isinstance(evaluation, dict) else None)


def load_episodes(path: pathlib.Path, cfg) -> dict:
    """One iteration's episodes, checked against the task's sizes and cfg.episodes."""
    env = task_type(cfg.task)
    expected = {"obs": (cfg.episodes, EPISODE_STEPS + 1, env.obs_dim),
                "act": (cfg.episodes, EPISODE_STEPS, env.act_dim),
                "target": (cfg.episodes, env.target_dim)}
    try:   # headers checked before numpy allocates; members bounded by what they declare
        batch = read_npz(path, list(expected), sum(int(np.prod(s)) for s in expected.values()))
    except (OSError, ValueError) as exc:      # FileTooLarge included; messages name the file
        raise ValueError(str(exc) if str(path) in str(exc) else f"{path}: unreadable episodes "
                         f"({type(exc).__name__}: {exc})") from None
    for name, shape in expected.items():
        array = batch[name]
        if array.shape != shape or array.dtype != np.float64 or not np.isfinite(array).all():
            raise ValueError(f"{path}: {name} is {array.shape} {array.dtype}, expected {shape} "
                             f"float64 with finite values")
    return batch


def _non_finite(state: dict) -> str | None:
    """The first network or optimiser tensor of a checkpoint that is not finite, or an Adam
    second moment (exp_avg_sq) or step below 0; None when all are sound."""
    parts = ("policy", "model", "policy_optimizer", "model_optimizer")
    bad = non_finite_tensor({part: state.get(part) for part in parts})
    if bad:
        return bad
    for part in parts[2:]:
        moments = (state.get(part) or {}).get("state", {}) if isinstance(state.get(part),
                                                                         dict) else {}
        for index, entry in moments.items() if isinstance(moments, dict) else ():
            for name in ("exp_avg_sq", "step"):
                tensor = entry.get(name) if isinstance(entry, dict) else None
                if isinstance(tensor, torch.Tensor) and bool((tensor < 0).any()):
                    return f"{part}.state.{index}.{name}"
    return None


def _check_optimizer_state(state, opt: torch.optim.Optimizer) -> None:
    """The saved Adam settings (betas, eps, base_lr, ...) must be this run's and its moments
    must have their parameters' shapes: load_state_dict checks neither, and a wrong shape
    would fail deep inside the first step."""
    fresh = [{k: v for k, v in group.items() if k not in ("params", "lr")}
             for group in opt.param_groups]
    saved = [{k: v for k, v in group.items() if k not in ("params", "lr")}
             for group in state["param_groups"]]
    if saved != fresh:
        raise ValueError(f"optimizer settings {saved} differ from this run's {fresh}")
    shapes = [p.shape for group in opt.param_groups for p in group["params"]]
    for index, moments in state["state"].items():
        for name in ("exp_avg", "exp_avg_sq"):
            if moments[name].shape != shapes[index]:
                raise ValueError(f"optimizer moment {name} of parameter {index} has shape "
                                 f"{tuple(moments[name].shape)}, the parameter "
                                 f"{tuple(shapes[index])}")
