"""Frontends: trained policies -> AnnGraph. Weights are read without executing pickled code.

Supported sources (load_policy picks by file type and keys):
  * the CRPI paper's released actors (torch state dicts): TD3 keys l1/l2/l3, SAC keys
    fc1/fc2/fc_mu (fc_std is unused by the deterministic action);
  * Stable-Baselines3 TD3/SAC .zip files (only policy.pth and the JSON `data` are read), with
    the VecNormalize statistics saved beside them folded in, and rl-baselines3-zoo run folders
    (compiler.sb3);
  * the project's policy files: a state dict of nn.Sequential(Linear, ReLU, ..., Linear[, Tanh])
    or, for pixel policies, nn.Sequential(Conv2d, ReLU, ..., Flatten, Linear, ReLU, ..., Tanh),
    with a sidecar JSON (loihi_deploy.training.train and loihi_deploy.training.distill write them), and live
    nn.Sequential objects.
The action head is tanh mapped onto the env's action bounds.

Directly trained SNNs (loihi_deploy.training.snn, `loihi-deploy train-snn --model snn`) load into a
TrainedSpikingGraph with load_trained_snn (a training run's folder: policy.pt + metrics.json).
"""
from __future__ import annotations

import os
import pathlib
import re
import zipfile
from typing import Any

import numpy as np

from loihi_deploy.compiler import sb3
from loihi_deploy.compiler.files import (MAX_FILE_BYTES, FileTooLarge, load_torch_weights,
                                         parse_json, read_bounded, read_json_object,
                                         read_sb3_zip, sha256_file)
from loihi_deploy.compiler.ir import (ALIF_ADAPTATION_XI, ALIF_DT, ALIF_THRESHOLD_DECAY, ActionHead,
                                      AlifLayer, AnnGraph, Conv2d, Dense, EnvSpaces, LeakyReadout,
                                      TrainedSpikingGraph)
from loihi_deploy.compiler.limits import MAX_SUBSTEPS


class PolicyLoadError(ValueError):
    """A policy file could not be read or does not describe a convertible ReLU MLP."""


def _torch_load_weights(data: bytes, where: str) -> dict:
    """A state dict's tensors as float64 arrays (name -> array), weights-only."""
    try:
        obj = load_torch_weights(data, where)
    except ValueError as exc:
        raise PolicyLoadError(str(exc)) from None
    if not isinstance(obj, dict) or not obj:
        raise PolicyLoadError(f"{where}: expected a state dict (name -> tensor), got "
                              f"{type(obj).__name__}")
    if not all(isinstance(k, str) for k in obj):
        raise PolicyLoadError(f"{where}: a state dict's keys are tensor names (strings), got "
                              f"{sorted(map(repr, obj))[:10]}")
    return {k: v.detach().cpu().double().numpy() for k, v in obj.items()
            if hasattr(v, "detach")}


def _linear(state: dict, prefix: str, where: str) -> Dense:
    try:
        return Dense(state[f"{prefix}.weight"], state[f"{prefix}.bias"])
    except KeyError as exc:
        raise PolicyLoadError(f"{where}: missing tensor {exc.args[0]!r}; found keys "
                              f"{sorted(state)[:12]}") from None
    except ValueError as exc:
        raise PolicyLoadError(f"{where}: layer {prefix!r}: {exc}") from None


def _sequential_linears(state: dict, prefix: str, where: str) -> list[Dense]:
    """Linear layers of an nn.Sequential state dict, in index order."""
    idx = sorted({int(k[len(prefix):].split(".")[0]) for k in state
                  if k.startswith(prefix) and k.endswith(".weight")
                  and k[len(prefix):].split(".")[0].isdigit()})
    return [_linear(state, f"{prefix}{i}", where) for i in idx]


SUPPORTED_ACTIVATION, SUPPORTED_HEAD = "relu", "tanh"


def _check_sidecar_functions(meta: dict, where: str) -> None:
    """The converter reproduces ReLU hidden layers and a tanh head exactly; a sidecar that
    declares anything else (or nothing) is refused, never converted as if it were ReLU."""
    activation, head = meta.get("activation"), meta.get("head")
    if activation != SUPPORTED_ACTIVATION:
        raise PolicyLoadError(f"{where}: the sidecar declares activation {activation!r}; only "
                              f"{SUPPORTED_ACTIVATION!r} converts exactly to spiking neurons")
    if head != SUPPORTED_HEAD:
        raise PolicyLoadError(f"{where}: the sidecar declares head {head!r}; only "
                              f"{SUPPORTED_HEAD!r} (action = offset + scale * tanh) is supported")


def _check_sequential_layout(state: dict, prefix: str, where: str) -> list[int]:
    """Indices of the parameter layers of an nn.Sequential state dict, after checking that
    every tensor belongs to a Linear (2-D weight) or Conv2d (4-D weight) with its bias, and that
    consecutive ones are separated by exactly the parameter-free modules the converter assumes
    (one activation; one activation and a Flatten from convolution to Linear). Anything else
    (a normalisation layer, a skipped index, an unknown tensor) is refused with its name."""
    keys = [k for k in state if k.startswith(prefix)]
    layers: dict[int, dict[str, np.ndarray]] = {}
    for key in keys:
        index, _, name = key[len(prefix):].partition(".")
        if not index.isdigit() or name not in ("weight", "bias"):
            raise PolicyLoadError(f"{where}: tensor {key!r} is not the weight or bias of a "
                                  f"numbered layer; only Linear/Conv2d layers with ReLU between "
                                  f"them convert")
        layers.setdefault(int(index), {})[name] = state[key]
    idx = sorted(layers)
    for i in idx:
        weight = layers[i].get("weight")
        if weight is None or weight.ndim not in (2, 4):
            raise PolicyLoadError(f"{where}: layer {prefix}{i} has "
                                  f"{'no weight' if weight is None else f'a {weight.ndim}-D weight'}"
                                  f"; only Linear (2-D) and Conv2d (4-D) layers convert (is it a "
                                  f"normalisation layer?)")
    if not idx or idx[0] != 0:
        raise PolicyLoadError(f"{where}: the first layer is not at index 0 (found {idx[:3]}): "
                              f"a module without parameters before it is not supported")
    for a, b in zip(idx[:-1], idx[1:]):
        expected = 3 if layers[a]["weight"].ndim == 4 and layers[b]["weight"].ndim == 2 else 2
        if b - a != expected:
            raise PolicyLoadError(f"{where}: layers {prefix}{a} and {prefix}{b} are {b - a} "
                                  f"modules apart; the converter needs exactly one activation "
                                  f"between layers (plus a Flatten after the last convolution)")
    return idx


def _sequential_layers(state: dict, meta: dict | None, where: str) -> list:
    """Conv2d and Linear layers of an nn.Sequential state dict (Conv2d..., Flatten, Linear...).
    Convolutions need the sidecar's "input" {"shape": [C, H, W], "scale", "offset"} and
    "conv" [{"stride", "padding"}, ...]; the input normalisation x * scale + offset is folded
    into the first layer, so the compiled graph takes the raw observation (e.g. pixels 0..255).
    """
    idx = _check_sequential_layout(state, "", where)
    meta = meta or {}
    _check_sidecar_functions(meta, where)
    convs = [i for i in idx if state[f"{i}.weight"].ndim == 4]
    if not convs:
        layers = [_linear(state, str(i), where) for i in idx]
    else:
        try:
            shape = tuple(meta["input"]["shape"])
            specs = meta["conv"]
        except (KeyError, TypeError):
            raise PolicyLoadError(f"{where}: a convolutional policy needs its sidecar JSON with "
                                  f"'input': {{'shape': [C, H, W], ...}} and 'conv': "
                                  f"[{{'stride', 'padding'}}, ...]") from None
        if len(specs) != len(convs):
            raise PolicyLoadError(f"{where}: {len(convs)} convolution layers but the sidecar "
                                  f"describes {len(specs)} ('conv')")
        layers = []
        for i in idx:
            w, b = state[f"{i}.weight"], state.get(f"{i}.bias")
            b = np.zeros(w.shape[0]) if b is None else b
            try:
                if w.ndim == 4:
                    spec = specs[len(layers)]
                    layer = Conv2d(w, b, shape, spec.get("stride", 1), spec.get("padding", 0))
                    shape = layer.out_shape
                else:
                    layer = Dense(w, b)
            except ValueError as exc:
                raise PolicyLoadError(f"{where}: layer {i}: {exc}") from None
            layers.append(layer)
    norm = meta.get("input", {})
    if "scale" in norm or "offset" in norm:
        layers[0] = _fold_input_normalisation(layers[0], float(norm.get("scale", 1.0)),
                                              float(norm.get("offset", 0.0)), where)
    return layers


def _fold_input_normalisation(layer, scale: float, offset: float, where: str):
    """First layer on x * scale + offset == the returned layer on x."""
    if isinstance(layer, Conv2d):
        if layer.padding:
            raise PolicyLoadError(f"{where}: cannot fold the input offset into a padded first "
                                  f"convolution (padding {layer.padding})")
        return Conv2d(layer.weight * scale, layer.bias + offset * layer.weight.sum(axis=(1, 2, 3)),
                      layer.in_shape, layer.stride, layer.padding)
    return Dense(layer.weight * scale, layer.bias + offset * layer.weight.sum(axis=1))


def _graph(hidden: list[Dense], readout: Dense, head: ActionHead, source: dict,
           where: str) -> AnnGraph:
    try:
        return AnnGraph(tuple(hidden), readout, head, source)
    except ValueError as exc:
        raise PolicyLoadError(f"{where}: {exc}") from None


VARIANT_HINT = ("; if the policy was trained on a variant of the env, give its gymnasium keyword "
                "arguments (--env-kwargs JSON, env_kwargs= in Python; docs/environments.md)")


def _bounds(spaces: EnvSpaces | None, action_low, action_high, layers: list[Dense],
            where: str) -> ActionHead:
    """The tanh head onto the given bounds, or onto the env's (after checking the sizes)."""
    obs_dim, act_dim = layers[0].shape[1], layers[-1].shape[0]
    if action_low is None or action_high is None:
        if spaces is None:
            raise PolicyLoadError(f"{where}: need the env id (or action bounds) to know the "
                                  f"action range")
        action_low, action_high = spaces.action_low, spaces.action_high
        if (obs_dim, act_dim) != (spaces.obs_dim, spaces.act_dim):
            raise PolicyLoadError(f"{where}: policy maps {obs_dim} observations to {act_dim} "
                                  f"actions but {spaces.env_id} has {spaces.obs_dim} "
                                  f"observations and {spaces.act_dim} actions{VARIANT_HINT}")
    head = ActionHead.from_bounds(action_low, action_high)
    if head.scale.size != act_dim:
        raise PolicyLoadError(f"{where}: policy outputs {act_dim} actions but the action bounds "
                              f"have {head.scale.size}")
    return head


# The authors' converter leaves its neurons' buffers in the released TD3 actors (thresholds
# and activation records of its own calibration); they take no part in the ANN's forward pass.
PAPER_CONVERTER_BUFFER = re.compile(r"neuron\d+\.(thre|act_buffer)")


def from_paper_state_dict(state: dict, head_bounds: tuple | None, spaces: EnvSpaces | None,
                          source: dict, where: str) -> AnnGraph:
    """The CRPI paper's TD3 (l1, l2, l3) or SAC (fc1, fc2, fc_mu) actor."""
    if "l1.weight" in state:
        names, unused, source = ("l1", "l2", "l3"), (), {**source, "kind": "paper-td3"}
    elif "fc1.weight" in state:
        names, unused = ("fc1", "fc2", "fc_mu"), ("fc_std", "fc_logstd", "fc_log_std")
        source = {**source, "kind": "paper-sac"}
    else:
        raise PolicyLoadError(f"{where}: not a paper actor (expected keys l1/l2/l3 or "
                              f"fc1/fc2/fc_mu)")
    expected = {f"{n}.{t}" for n in names for t in ("weight", "bias")}
    extra = sorted(k for k in set(state) - expected
                   if k.split(".")[0] not in unused and not PAPER_CONVERTER_BUFFER.fullmatch(k))
    if extra:
        raise PolicyLoadError(f"{where}: tensors {extra[:6]} are not part of the paper's "
                              f"{'/'.join(names)} actor; refusing rather than dropping them")
    layers = [_linear(state, n, where) for n in names]
    low, high = head_bounds or (None, None)
    head = _bounds(spaces, low, high, layers, where)
    return _graph(layers[:-1], layers[-1], head, source, where)


def _read_sb3_zip(path: pathlib.Path) -> tuple[dict, dict]:
    try:
        data, members = read_sb3_zip(path, pth_members=("policy.pth",))
    except ValueError as exc:
        raise PolicyLoadError(str(exc)) from None
    return data, _torch_load_weights(members["policy.pth"], f"{path}:policy.pth")


SB3_RELU = "<class 'torch.nn.modules.activation.ReLU'>"   # how SB3's `data` JSON names nn.ReLU


def from_sb3_zip(path: pathlib.Path, spaces: EnvSpaces | None, source: dict) -> AnnGraph:
    """A Stable-Baselines3 TD3 or SAC model; reads the actor only, never unpickles."""
    where = str(path)
    data, state = _read_sb3_zip(path)
    policy_class = data.get("policy_class")
    policy_kwargs = data.get("policy_kwargs", {})
    if not isinstance(policy_class, (dict, type(None))) or not isinstance(policy_kwargs, dict):
        raise PolicyLoadError(f"{where}: malformed SB3 `data`: policy_class / policy_kwargs are "
                              f"not JSON objects")
    policy_module = str((policy_class or {}).get("__module__", ""))
    activation = policy_kwargs.get("activation_fn", SB3_RELU)
    if activation != SB3_RELU:
        raise PolicyLoadError(f"{where}: actor activation is {activation}; only "
                              f"{SB3_RELU} converts exactly to spiking neurons (train with "
                              f"activation_fn=nn.ReLU)")
    if "actor.latent_pi.0.weight" in state:  # SAC: latent_pi + mu, deterministic tanh(mu)
        if "actor.mu.0.weight" in state:    # gSDE's mean: Sequential(Linear, Hardtanh)
            raise PolicyLoadError(
                f"{where}: SAC with gSDE (use_sde) clips the actor's mean with Hardtanh("
                f"-clip_mean, clip_mean) before tanh, a saturation the spiking network does "
                f"not reproduce exactly; train with use_sde=False, or policy_kwargs "
                f"clip_mean=0.0 (no clip)")
        _check_sequential_layout(state, "actor.latent_pi.", where)
        layers = _sequential_linears(state, "actor.latent_pi.", where)
        layers.append(_linear(state, "actor.mu", where))
        algo = "sac"
    elif "actor.mu.0.weight" in state:  # TD3 / DDPG: actor.mu = Sequential(Linear, ReLU, ..., Tanh)
        _check_sequential_layout(state, "actor.mu.", where)
        layers = _sequential_linears(state, "actor.mu.", where)
        algo = "td3"
    else:
        raise PolicyLoadError(f"{where}: no TD3/SAC actor in policy.pth (policy class module "
                              f"{policy_module or 'unknown'}); keys: {sorted(state)[:10]}")
    if len(layers) < 2:
        raise PolicyLoadError(f"{where}: actor has no hidden layer")
    head = _bounds(spaces, None, None, layers, where)
    graph = _graph(layers[:-1], layers[-1], head, {**source, "kind": f"sb3-{algo}"}, where)
    stats_path = sb3.find_vecnormalize(path)
    return graph if stats_path is None else \
        sb3.fold_vecnormalize(graph, sb3.read_vecnormalize(stats_path), where)


def _computes(module, kind) -> bool:
    """module is exactly torch's `kind` (ReLU or Tanh) and computes it on probe values."""
    import torch
    if type(module) is not kind:
        return False
    probe = torch.linspace(-4, 4, 81, dtype=torch.float64)
    want = torch.relu(probe) if kind is torch.nn.ReLU else torch.tanh(probe)
    with torch.no_grad():
        return bool(torch.equal(module(probe), want))


def from_sequential(module, action_low, action_high, source: dict | None = None,
                    input_shape: tuple | None = None, conv_specs: list | None = None,
                    normalisation: dict | None = None) -> AnnGraph:
    """A live torch nn.Sequential: Linear/ReLU layers ending in Linear and Tanh, or Conv2d/ReLU
    layers, Flatten, then those. Convolutions need input_shape (C, H, W) and conv_specs
    [{"stride", "padding"}, ...]; normalisation {"scale", "offset"} is folded in. Activations
    are identified by their exact type and by probing the function (a subclass or an
    overridden forward is refused)."""
    import torch.nn as nn
    mods = list(module)
    if not mods or not _computes(mods[-1], nn.Tanh):
        raise PolicyLoadError("nn.Sequential: the last module must be Tanh (the head is "
                              "offset + scale * tanh); found "
                              f"{type(mods[-1]).__name__ if mods else 'no modules'}")
    mods = mods[:-1]
    kinds = [type(m).__name__ for m in mods]
    expect_layer, seen_linear, bad = True, False, None
    for i, m in enumerate(mods):  # (Conv2d ReLU)* [Flatten] (Linear ReLU)* Linear
        if expect_layer and isinstance(m, nn.Conv2d) and not seen_linear or \
                expect_layer and isinstance(m, nn.Linear):
            seen_linear |= isinstance(m, nn.Linear)
            expect_layer = False
        elif not expect_layer and _computes(m, nn.ReLU):
            expect_layer = True
        elif not (expect_layer and isinstance(m, nn.Flatten) and not seen_linear):
            bad = i
            break
    if bad is None and (not mods or not isinstance(mods[-1], nn.Linear)):
        bad = len(mods) - 1
    if bad is not None:
        what = f"module {bad} is {kinds[bad]}" if mods else "no modules"
        raise PolicyLoadError(f"nn.Sequential: {what}; expected Conv2d/ReLU ..., Flatten, then "
                              f"alternating Linear/ReLU ending in Linear (optionally Tanh)")
    layer_kinds = [k for k in kinds if k in ("Linear", "Conv2d")]
    if any(isinstance(m, nn.Conv2d) and (m.groups != 1 or m.dilation != (1, 1)
                                         or m.stride[0] != m.stride[1]
                                         or m.padding[0] != m.padding[1]) for m in mods):
        raise PolicyLoadError("nn.Sequential: convolutions must have groups 1, dilation 1 and "
                              "equal stride / padding in both axes")
    if len(layer_kinds) < 2:
        raise PolicyLoadError("nn.Sequential: need at least one hidden layer + ReLU and an "
                              "output Linear")
    state = {k: v.detach().cpu().double().numpy() for k, v in module.state_dict().items()}
    meta = {"activation": SUPPORTED_ACTIVATION, "head": SUPPORTED_HEAD}   # verified above
    if "Conv2d" in layer_kinds:
        if input_shape is None:
            raise PolicyLoadError("nn.Sequential with convolutions: input_shape (C, H, W) needed")
        meta |= {"input": {"shape": list(input_shape)},
                "conv": conv_specs or [{"stride": m.stride[0], "padding": m.padding[0]}
                                       for m in mods if isinstance(m, nn.Conv2d)]}
    if normalisation:
        meta.setdefault("input", {}).update(normalisation)
    layers = _sequential_layers(state, meta, "nn.Sequential")
    head = _bounds(None, action_low, action_high, layers, "nn.Sequential")
    return _graph(layers[:-1], layers[-1], head, {"kind": "torch-sequential", **(source or {})},
                  "nn.Sequential")


def read_policy_metadata(path: pathlib.Path) -> dict[str, Any] | None:
    """The sidecar JSON of a policy file, or the env of an rl-baselines3-zoo run folder."""
    path = pathlib.Path(path)
    if path.is_dir():
        try:
            return sb3.zoo_run(path)[1]
        except sb3.SB3FileError as exc:
            raise PolicyLoadError(str(exc)) from None
    meta_path = path.with_suffix(".json")
    if not meta_path.exists():
        return None
    try:
        meta = parse_json(read_bounded(meta_path, 16 << 20), f"{meta_path}: metadata")
    except ValueError as exc:       # FileTooLarge included
        raise PolicyLoadError(str(exc)) from None
    expected = {"action_low": list, "action_high": list, "input": dict, "conv": list,
                "env_id": str, "env_kwargs": dict, "activation": str, "head": str}
    if not isinstance(meta, dict):
        raise PolicyLoadError(f"{meta_path}: metadata must be a JSON object, got a "
                              f"{type(meta).__name__}")
    wrong = [f"{k} ({type(meta[k]).__name__}, expected {t.__name__})"
             for k, t in expected.items() if k in meta and not isinstance(meta[k], t)]
    if not all(isinstance(c, dict) for c in meta.get("conv", [])):
        wrong.append("conv (expected a list of objects)")
    if wrong:
        raise PolicyLoadError(f"{meta_path}: malformed metadata: {', '.join(wrong)}")
    return meta


def _is_sb3_zip(path: pathlib.Path) -> bool:
    """SB3 saves a zip with policy.pth (torch.save files are zips too, without it)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return "policy.pth" in zf.namelist()


def load_policy(path: str | pathlib.Path, spaces: EnvSpaces | None = None) -> AnnGraph:
    """Load any supported policy file (or rl-baselines3-zoo run folder), then validate it
    against the env's spaces if given
    (runtime.envs.env_spaces reads them; loihi_deploy.api.load_ann does both)."""
    path = pathlib.Path(path)
    try:
        if path.is_dir():
            return load_policy(sb3.zoo_run(path)[0], spaces)
        return _load_policy_file(path, spaces)
    except (PolicyLoadError, sb3.SB3FileError) as exc:
        raise PolicyLoadError(str(exc)) from None
    except (ValueError, TypeError, OverflowError, KeyError) as exc:
        # a value of the wrong kind in the file or its sidecar (bounds NaN, a conv stride
        # null, a scale that is a list) reaching a constructor: name the file, unless the
        # message names the file at fault already (a zoo folder's vecnormalize.pkl)
        if isinstance(exc, ValueError) and os.path.exists(str(exc).split(": ", 1)[0]):
            raise PolicyLoadError(str(exc)) from None
        raise PolicyLoadError(f"{path} (or its sidecar {path.with_suffix('.json').name}): "
                              f"{type(exc).__name__}: {str(exc)[:300]}") from None


def _load_policy_file(path: pathlib.Path, spaces: EnvSpaces | None) -> AnnGraph:
    if not path.is_file():
        raise PolicyLoadError(f"{path}: " + ("not a regular file (a FIFO, device or socket)"
                                             if path.exists() else "no such policy file"))
    size = path.stat().st_size
    if size == 0:
        raise PolicyLoadError(f"{path}: empty file")
    if size > MAX_FILE_BYTES:
        raise PolicyLoadError(f"{path}: {size} bytes, more than the {MAX_FILE_BYTES} allowed")
    source = {"path": str(path), "sha256": sha256_file(path)}
    if _is_sb3_zip(path):
        graph = from_sb3_zip(path, spaces, source)
    else:
        try:
            raw = read_bounded(path)
        except FileTooLarge as exc:
            raise PolicyLoadError(str(exc)) from None
        state = _torch_load_weights(raw, str(path))
        meta = read_policy_metadata(path)
        if "l1.weight" in state or "fc1.weight" in state:
            graph = from_paper_state_dict(state, None, spaces, source, str(path))
        elif "0.weight" in state:
            if meta is None and spaces is None:
                raise PolicyLoadError(f"{path}: a Sequential state dict needs its sidecar "
                                      f"{path.with_suffix('.json').name} or an env id")
            bounds = (meta.get("action_low"), meta.get("action_high")) if meta else (None, None)
            layers = _sequential_layers(state, meta, str(path))
            head = _bounds(spaces, *bounds, layers, str(path))
            graph = _graph(layers[:-1], layers[-1], head,
                           {**source, "kind": "sequential", **({"metadata": meta} if meta else {})},
                           str(path))
        else:
            raise PolicyLoadError(f"{path}: unrecognised state dict (keys {sorted(state)[:10]}); "
                                  f"expected a paper actor (l1/l2/l3, fc1/fc2/fc_mu) or an "
                                  f"nn.Sequential state dict (0.weight, 2.weight, ...)")
    if spaces is not None:
        check_against_env(graph, spaces, str(path))
    return graph


def check_against_env(graph: AnnGraph, spaces: EnvSpaces, where: str) -> None:
    env_id = spaces.env_id + (f" made with env_kwargs {spaces.env_kwargs}"
                              if spaces.env_kwargs else "")
    if graph.obs_dim != spaces.obs_dim:
        raise PolicyLoadError(f"{where}: policy expects {graph.obs_dim}-dim observations but "
                              f"{env_id} gives {spaces.obs_dim}{VARIANT_HINT}")
    if graph.act_dim != spaces.act_dim:
        raise PolicyLoadError(f"{where}: policy outputs {graph.act_dim} actions but {env_id} "
                              f"takes {spaces.act_dim}")
    expected = spaces.head()
    if not (np.allclose(graph.head.scale, expected.scale)
            and np.allclose(graph.head.offset, expected.offset)):
        raise PolicyLoadError(f"{where}: action bounds recorded with the policy do not match "
                              f"{env_id}'s [{spaces.action_low}, {spaces.action_high}]")


def from_trained_snn(state: dict, substeps: int, task: str = "", source: dict | None = None,
                     where: str = "policy") -> TrainedSpikingGraph:
    """A loihi_deploy.training.snn.layers.SpikingNetwork state dict -> TrainedSpikingGraph. Folds the
    input standardisation and per-input scale into layer 0 (columns and bias), multiplies out latent compression (W = linear @
    compress: the chip holds the full n x n matrix), turns log time constants into per-substep
    decays beta = exp(-dt / tau), and folds each membrane's gain (1 - beta_mem) (the readout's
    1 - beta_out) into its rows and bias."""
    if isinstance(substeps, bool) or not isinstance(substeps, int) or \
            not 1 <= substeps <= MAX_SUBSTEPS:
        raise PolicyLoadError(f"{where}: substeps must be an integer in [1, {MAX_SUBSTEPS}], "
                              f"got {substeps!r}")

    def array(key):
        if key not in state:
            raise PolicyLoadError(f"{where}: missing {key!r}; expected a spiking policy "
                                  f"(loihi-deploy train-snn --model snn), keys "
                                  f"{sorted(state)[:8]}")
        value = np.asarray(state[key], dtype=np.float64)
        if not np.isfinite(value).all():
            raise PolicyLoadError(f"{where}: {key} holds NaN or Inf")
        return value

    def beta(key):
        with np.errstate(over="ignore"):      # tau = inf: beta 1, refused by the layer
            return np.exp(-ALIF_DT / np.exp(array(key)))

    if ("input_mean" in state) != ("input_std" in state):
        raise PolicyLoadError(f"{where}: holds only one of input_mean and input_std; the "
                              f"input standardisation needs both (runs from before it have "
                              f"neither)")

    n_layers = len({k.split(".")[1] for k in state if k.startswith("layers.")})
    if n_layers == 0:
        array("layers.0.linear.weight")    # raises the missing-key error
    layers = []
    for k in range(n_layers):
        prefix = f"layers.{k}."
        weight = array(prefix + "linear.weight")
        if prefix + "compress.weight" in state:
            weight = weight @ array(prefix + "compress.weight")
        bias = array(prefix + "linear.bias")
        if k == 0:      # x -> (x - input_mean) / input_std * input_scale, folded
            mean, std = ((array("input_mean"), array("input_std")) if "input_mean" in state
                         else (np.zeros(weight.shape[1]), np.ones(weight.shape[1])))
            if not (std > 0).all():
                raise PolicyLoadError(f"{where}: input_std must be > 0, got {std.min():g}")
            weight = weight * (array("input_scale") / std)[None, :]
            bias = bias - weight @ mean
        mem = beta(prefix + "tau_mem.log_tau")
        gain = (1 - mem)[:, None]
        ada = beta(prefix + "tau_ada.log_tau")
        layers.append(AlifLayer(Dense(weight * gain, bias * gain[:, 0]),
                                beta(prefix + "tau_syn.log_tau"), mem, ada,
                                ALIF_ADAPTATION_XI * (1 - ada), ALIF_THRESHOLD_DECAY * ALIF_DT))
    out = beta("readout.tau.log_tau")
    readout = LeakyReadout(Dense(array("readout.linear.weight") * (1 - out)[:, None],
                                 array("readout.linear.bias") * (1 - out)), out)
    return TrainedSpikingGraph(tuple(layers), readout, int(substeps), task, source or {})


def load_trained_snn(run_dir: str | pathlib.Path) -> TrainedSpikingGraph:
    """A `loihi-deploy train-snn --model snn` output folder (policy.pt, metrics.json)."""
    run_dir = pathlib.Path(run_dir)
    policy, metrics = run_dir / "policy.pt", run_dir / "metrics.json"
    for path in (policy, metrics):
        if not path.is_file():
            raise PolicyLoadError(f"{run_dir}: no {path.name}; expected the output folder of "
                                  f"`loihi-deploy train-snn --model snn`")
    try:
        config = read_json_object(metrics, {"config": dict})["config"]
    except (ValueError, FileTooLarge) as exc:
        raise PolicyLoadError(f"unreadable training metrics: {exc}") from None
    if config.get("model") != "snn":
        raise PolicyLoadError(f"{run_dir}: a {config.get('model')!r} policy is not spiking; "
                              f"only `train-snn --model snn` runs compile to Loihi")
    try:
        raw = read_bounded(policy)
    except FileTooLarge as exc:
        raise PolicyLoadError(str(exc)) from None
    state = _torch_load_weights(raw, str(policy))
    source = {"path": str(policy), "sha256": sha256_file(policy), "kind": "trained_snn",
              "config": config}
    if not isinstance(config.get("task"), str):
        raise PolicyLoadError(f"{metrics}: config has invalid task={config.get('task')!r:.80} "
                              f"(expected a task name)")
    substeps = config.get("substeps")
    if isinstance(substeps, bool) or not isinstance(substeps, int) or \
            not 1 <= substeps <= MAX_SUBSTEPS:
        raise PolicyLoadError(f"{metrics}: config has invalid substeps={substeps!r:.80} "
                              f"(an integer in [1, {MAX_SUBSTEPS}])")
    try:
        return from_trained_snn(state, substeps, config["task"], source, str(policy))
    except PolicyLoadError:
        raise
    except ValueError as exc:       # the tensors' shapes do not chain into a network
        raise PolicyLoadError(f"{policy}: not a network the config describes ("
                              f"{str(exc).splitlines()[0][:200]})") from None
