"""Training checkpoints and SB3 models, read and written without pickle (docs/reliability.md).

Stable-Baselines3's own `load` unpickles the zip's `data` member (policy_kwargs, spaces and
schedules are base64 pickles) and `load_replay_buffer` unpickles the buffer: a crafted file
runs code. Here nothing from a file is unpickled:

- a checkpoint folder holds `params.pt` (state dicts of the networks and optimisers, plus
  SAC's entropy coefficient, read with torch.load(weights_only=True)), `state.json` (step
  counters) and `replay_buffer.npz` (the buffer's arrays, read with allow_pickle=False), each
  checked against the freshly built model before anything is assigned;
- an SB3 `.zip` contributes only its `*.pth` members (weights_only) and plain JSON numbers of
  `data`; the model itself is built from the run's own configuration.
"""
from __future__ import annotations

import io
import json
import pathlib

import numpy as np

from loihi_deploy.compiler.frontend import SB3_RELU
from loihi_deploy.compiler.files import (FileTooLarge, atomic_write_bytes, atomic_write_text,
                                         load_torch_weights, parse_json, read_bounded, read_npz,
                                         read_sb3_zip)

BUFFER_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


class CheckpointError(ValueError):
    pass


def _torch_load(data: bytes, where: str):
    try:
        return load_torch_weights(data, where)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None


def _read_file(path: pathlib.Path) -> bytes:
    try:
        return read_bounded(path)
    except FileTooLarge as exc:
        raise CheckpointError(str(exc)) from None


def _torch_state(model) -> tuple[list[str], list[str]]:
    return model._get_torch_save_params()


def _assign_parameters(model, params: dict, where: str) -> None:
    """State dicts and tensors into `model`, after checking names, shapes and dtypes."""
    import torch
    from stable_baselines3.common.utils import get_device
    from stable_baselines3.common.save_util import recursive_getattr
    names, variables = _torch_state(model)
    if not isinstance(params, dict):
        raise CheckpointError(f"{where}: expected a dict of state dicts, got {type(params).__name__}")
    missing = [n for n in names if n not in params]
    if missing:
        raise CheckpointError(f"{where}: no state for {missing} (has {sorted(params)})")
    bad = non_finite_tensor(params)
    if bad:     # NaN weights would train on NaN actions and fail far from the file
        raise CheckpointError(f"{where}: {bad} holds NaN or Inf; the file is damaged")
    policy_now = model.policy.state_dict()
    policy_file = params["policy"]
    if not isinstance(policy_file, dict) or set(policy_file) != set(policy_now):
        raise CheckpointError(f"{where}: the policy's parameters do not match a {type(model).__name__}"
                              f" with this run's settings (keys differ)")
    for key, value in policy_file.items():
        if not isinstance(value, torch.Tensor) or value.shape != policy_now[key].shape:
            raise CheckpointError(f"{where}: policy parameter {key} has shape "
                                  f"{getattr(value, 'shape', type(value).__name__)}, expected "
                                  f"{tuple(policy_now[key].shape)}")
    try:
        model.set_parameters({n: params[n] for n in names}, exact_match=True,
                             device=get_device("cpu"))
        for name in variables:
            value = params.get("variables", {}).get(name)
            target = recursive_getattr(model, name)
            if not isinstance(value, torch.Tensor) or value.shape != target.shape:
                raise CheckpointError(f"{where}: variable {name} missing or of the wrong shape")
            with torch.no_grad():
                target.copy_(value)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - optimiser state of another shape, ...
        raise CheckpointError(f"{where}: cannot load the parameters ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200]})") from None


def non_finite_tensor(tree, name: str = "") -> str | None:
    """The name of the first floating tensor in nested dicts/lists that is not finite."""
    import torch
    if isinstance(tree, torch.Tensor):
        finite = not tree.is_floating_point() or bool(torch.isfinite(tree).all())
        return None if finite else name or "a tensor"
    items = tree.items() if isinstance(tree, dict) else \
        enumerate(tree) if isinstance(tree, (list, tuple)) else ()
    for key, value in items:
        bad = non_finite_tensor(value, f"{name}.{key}" if name else str(key))
        if bad:
            return bad
    return None


def load_module_state(module, state, where: str, hint: str, optional: frozenset = frozenset()):
    """A state dict into `module` after checking it is this network's: the same tensor names
    (but `optional` ones, which may be missing and keep their values) and shapes, finite
    values (load_state_dict checks no values and reports shapes in many lines). ValueError
    naming `where` and the first difference; hint: what to do instead."""
    import torch
    expected = module.state_dict()
    names = set(state) if isinstance(state, dict) else set()
    missing, unexpected = set(expected) - names - set(optional), names - set(expected)
    if not isinstance(state, dict) or missing or unexpected:
        raise ValueError(f"{where}: does not hold this network's tensors (missing "
                         f"{sorted(missing)[:8]}, unexpected {sorted(unexpected)[:8]}); {hint}")
    for key, got in state.items():
        if not isinstance(got, torch.Tensor) or got.shape != expected[key].shape:
            raise ValueError(f"{where}: {key} has shape {tuple(getattr(got, 'shape', ()))}, "
                             f"this network's {tuple(expected[key].shape)}; {hint}")
    bad = non_finite_tensor(state)
    if bad:
        raise ValueError(f"{where}: {bad} holds NaN or Inf; the file is damaged; {hint}")
    module.load_state_dict(state, strict=not optional)
    return module


def torch_bytes(obj) -> bytes:
    """torch.save into memory (then written with compiler.files.atomic_write_bytes)."""
    import torch
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_checkpoint(model, folder: pathlib.Path) -> None:
    """params.pt, replay_buffer.npz, then state.json (written last: a checkpoint counts only
    once its state.json names its step)."""
    from stable_baselines3.common.save_util import recursive_getattr
    names, variables = _torch_state(model)
    params = {n: recursive_getattr(model, n).state_dict() for n in names}
    params["variables"] = {n: recursive_getattr(model, n).detach().clone() for n in variables}
    atomic_write_bytes(folder / "params.pt", torch_bytes(params))
    buffer = model.replay_buffer
    arrays = {name: getattr(buffer, name) for name in BUFFER_ARRAYS}

    data = io.BytesIO()
    np.savez(data, pos=np.int64(buffer.pos), full=np.bool_(buffer.full), **arrays)
    atomic_write_bytes(folder / "replay_buffer.npz", data.getvalue())
    state = {"num_timesteps": int(model.num_timesteps), "n_updates": int(model._n_updates),
             "episode_num": int(model._episode_num),
             "learning_starts": int(model.learning_starts)}
    atomic_write_text(folder / "state.json", json.dumps(state))


def load_checkpoint(model, folder: pathlib.Path, with_buffer: bool = True) -> None:
    """Fill a freshly built model from a checkpoint folder (save_checkpoint's); with_buffer
    False: weights, optimisers and counters only."""
    where = str(folder)
    counters = read_counters(folder)
    _assign_parameters(model, _torch_load(_read_file(folder / "params.pt"),
                                          f"{where}/params.pt"), f"{where}/params.pt")
    if with_buffer:
        _load_buffer(model.replay_buffer, folder / "replay_buffer.npz")
    model.num_timesteps = counters["num_timesteps"]
    model.learning_starts = counters["learning_starts"]
    model._n_updates = counters["n_updates"]
    model._episode_num = counters["episode_num"]


def read_counters(folder: pathlib.Path) -> dict[str, int]:
    """A checkpoint's state.json: num_timesteps, n_updates, episode_num, learning_starts."""
    where = f"{folder}/state.json"
    try:
        state = parse_json(_read_file(folder / "state.json"), where)
        counters = {k: state[k] for k in ("num_timesteps", "n_updates", "episode_num",
                                           "learning_starts")}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{where}: unreadable ({exc})") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2 ** 40
               for v in counters.values()):
        raise CheckpointError(f"{where}: counters must be non-negative integers, got "
                              f"{counters}")
    return counters


def _load_buffer(buffer, path: pathlib.Path) -> None:
    where = str(path)
    capacity = sum(getattr(buffer, name).size for name in BUFFER_ARRAYS) + 2
    try:   # headers checked first: no array larger than this run's buffer is allocated
        data = read_npz(path, (*BUFFER_ARRAYS, "pos", "full"), capacity)
        arrays = {name: data[name] for name in BUFFER_ARRAYS}
        pos, full = int(data["pos"]), bool(data["full"])
    except (OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{where}: unreadable replay buffer ({exc})") from None
    saved = len(arrays["observations"])
    for name, array in arrays.items():
        expected = getattr(buffer, name)
        if array.shape[1:] != expected.shape[1:] or array.dtype != expected.dtype or \
                len(array) != saved or saved > len(expected):
            raise CheckpointError(f"{where}: {name} has shape {array.shape} {array.dtype}, this "
                                  f"run's buffer {expected.shape} {expected.dtype}")
    if not 0 <= pos < max(saved, 1):
        raise CheckpointError(f"{where}: position {pos} outside the saved buffer ({saved})")
    for name, array in arrays.items():   # a longer run keeps the saved transitions in front
        getattr(buffer, name)[:saved] = array
    filled = saved if full else pos
    buffer.pos = filled % buffer.buffer_size
    buffer.full = filled == buffer.buffer_size


def load_sb3_zip(model, path: pathlib.Path) -> int:
    """Parameters of an SB3 model.zip into a freshly built model of the same algorithm and
    sizes; returns the zip's step count. Reads only the `*.pth` members (weights_only) and the
    plain JSON number `num_timesteps` of `data`: never its pickled entries."""
    where = str(path)
    try:
        data, members = read_sb3_zip(path)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    params = {name[:-4]: _torch_load(raw, f"{where}:{name}") for name, raw in members.items()
              if name != "pytorch_variables.pth"}
    if "pytorch_variables.pth" in members:
        params["variables"] = _torch_load(members["pytorch_variables.pth"],
                                          f"{where}:pytorch_variables.pth")
    policy_kwargs = data.get("policy_kwargs")
    activation = policy_kwargs.get("activation_fn", SB3_RELU) \
        if isinstance(policy_kwargs, dict) else SB3_RELU
    if activation != SB3_RELU:   # same shapes, another function: refused, not continued
        raise CheckpointError(f"{where}: its networks use activation {activation}; train "
                              f"builds ReLU networks (the kind that converts exactly), so "
                              f"these weights would compute another function")
    steps = data.get("num_timesteps", 0)
    if not isinstance(steps, int) or not 0 <= steps < 2 ** 40:
        raise CheckpointError(f"{where}: num_timesteps must be a non-negative integer, got "
                              f"{steps!r}")
    _assign_parameters(model, params, where)
    return steps
