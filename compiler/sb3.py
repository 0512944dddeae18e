"""Stable-Baselines3 artefacts beside a model zip (docs/conversion.md, "SB3 and the RL Zoo").

* VecNormalize statistics (vecnormalize.pkl): read with compiler.pickle_data, which builds
  data only (nothing is imported or called), and folded into the first layer. SB3 feeds the
  policy clip((obs - mean) / sqrt(var + eps), -c, c); with std = sqrt(var + eps) that equals
  (clip(obs, mean - c std, mean + c std) - mean) / std, so layer 0 becomes
  W / std, b - (W / std) @ mean on the raw observation, and the clip becomes the graph's
  InputClip (applied by the encoder of every backend). Exact up to float rounding.
* rl-baselines3-zoo run folders (logs/ALGO/ENV_N): the model RUN/ENV.zip (the zoo's `enjoy`
  default; pass RUN/best_model.zip to take the best one), the statistics
  RUN/ENV/vecnormalize.pkl, and the env id and env_kwargs from RUN/ENV/args.yml.
"""
from __future__ import annotations

import dataclasses
import math
import pathlib

import numpy as np

from loihi_deploy.compiler.files import FileTooLarge, read_bounded
from loihi_deploy.compiler.ir import AnnGraph, Dense, InputClip
from loihi_deploy.compiler.pickle_data import PickleDataError, read_pickle_data

VECNORMALIZE_FILE = "vecnormalize.pkl"
VECNORMALIZE_NAMES = {
    "stable_baselines3.common.vec_env.vec_normalize.VecNormalize",
    "stable_baselines3.common.running_mean_std.RunningMeanStd",
    "gymnasium.spaces.box.Box", "gym.spaces.box.Box",
    "numpy.random._pickle.__generator_ctor", "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pcg64.PCG64", "numpy.random._mt19937.MT19937",
    "collections.OrderedDict",
}
MAX_STATS_BYTES = 16 << 20


class SB3FileError(ValueError):
    """A VecNormalize file or zoo run folder that cannot be read or folded."""


@dataclasses.dataclass(frozen=True)
class VecNormalizeStats:
    """What the policy saw: clip((obs - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)
    when norm_obs; (obs_dim,) mean and var."""
    path: str
    norm_obs: bool
    mean: np.ndarray
    var: np.ndarray
    epsilon: float
    clip_obs: float


def find_vecnormalize(model_zip: pathlib.Path) -> pathlib.Path | None:
    """The VecNormalize file saved with a model: MODEL_DIR/vecnormalize.pkl, or the zoo's
    MODEL_DIR/ENV/vecnormalize.pkl (exactly one such folder; several are ambiguous)."""
    folder = pathlib.Path(model_zip).parent
    found = sorted({*folder.glob(VECNORMALIZE_FILE), *folder.glob(f"*/{VECNORMALIZE_FILE}")})
    if len(found) > 1:
        raise SB3FileError(f"{model_zip}: several VecNormalize files beside the model "
                           f"({', '.join(map(str, found))}); keep the one it was trained with")
    return found[0] if found else None


def read_vecnormalize(path: pathlib.Path) -> VecNormalizeStats:
    where = str(path)
    try:
        raw = read_bounded(path, MAX_STATS_BYTES)
        obj = read_pickle_data(raw, where, VECNORMALIZE_NAMES)
    except (FileTooLarge, PickleDataError) as exc:
        raise SB3FileError(str(exc)) from None
    state = getattr(obj, "state", None)
    if not (getattr(obj, "name", "").endswith("VecNormalize") and isinstance(state, dict)):
        raise SB3FileError(f"{where}: not a saved VecNormalize")
    rms = state.get("obs_rms")
    if isinstance(rms, dict) or state.get("norm_obs_keys"):
        raise SB3FileError(f"{where}: normalises a dict observation space; only flat Box "
                           f"observations convert")
    rms_state = getattr(rms, "state", None)
    if not isinstance(rms_state, dict):
        raise SB3FileError(f"{where}: no observation statistics (obs_rms)")
    mean, var = rms_state.get("mean"), rms_state.get("var")
    epsilon, clip = state.get("epsilon", 1e-8), state.get("clip_obs", 10.0)
    if not (isinstance(mean, np.ndarray) and isinstance(var, np.ndarray) and mean.ndim == 1
            and mean.dtype.kind in "iuf" and var.dtype.kind in "iuf"
            and mean.shape == var.shape and np.all(np.isfinite(mean))
            and np.all(np.isfinite(var)) and np.all(var >= 0)):
        raise SB3FileError(f"{where}: observation mean/var are not finite vectors of one size "
                           f"with var >= 0")
    if not all(_positive_float(v) for v in (epsilon, clip)):
        raise SB3FileError(f"{where}: epsilon and clip_obs must be finite and > 0")
    return VecNormalizeStats(where, bool(state.get("norm_obs", True)), mean.astype(np.float64),
                             var.astype(np.float64), float(epsilon), float(clip))


def _positive_float(value) -> bool:
    """A finite number > 0 as a float (an int of 400 digits overflows: not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value)) and float(value) > 0
    except OverflowError:
        return False


def fold_vecnormalize(graph: AnnGraph, stats: VecNormalizeStats, where: str) -> AnnGraph:
    """The graph on raw observations (module docstring); unchanged when norm_obs is off."""
    source = {**graph.source, "vecnormalize": {"path": stats.path, "norm_obs": stats.norm_obs,
                                               "clip_obs": stats.clip_obs}}
    if not stats.norm_obs:
        return dataclasses.replace(graph, source=source)
    first = graph.hidden[0]
    if not isinstance(first, Dense):
        raise SB3FileError(f"{where}: VecNormalize before a convolution is not folded")
    if stats.mean.size != graph.obs_dim:
        raise SB3FileError(f"{where}: {stats.path} normalises {stats.mean.size} observations, "
                           f"the policy takes {graph.obs_dim}")
    std = np.sqrt(stats.var + stats.epsilon)
    try:   # statistics whose folded weights or clip bounds leave float64 (var 0, mean 1e200)
        with np.errstate(all="ignore"):
            weight = first.weight / std[None, :]
            folded = Dense(weight, first.bias - weight @ stats.mean)
            clip = InputClip(stats.mean - stats.clip_obs * std,
                             stats.mean + stats.clip_obs * std)
    except ValueError as exc:
        raise SB3FileError(f"{stats.path}: these statistics cannot be folded into the first "
                           f"layer ({exc})") from None
    return dataclasses.replace(graph, hidden=(folded, *graph.hidden[1:]), input_clip=clip,
                               source=source)


def _zoo_yaml(path: pathlib.Path) -> dict:
    """A zoo args.yml: safe YAML plus the one Python tag the zoo writes (OrderedDict)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.events.AliasEvent):   # "billion laughs": refused
                raise yaml.composer.ComposerError(
                    None, None, "YAML aliases (*name) are refused: a few of them can expand "
                    "a small file into gigabytes", self.peek_event().start_mark)
            return super().compose_node(parent, index)

    def ordered_dict(loader, node):
        args = loader.construct_sequence(node, deep=True)
        return dict(args[0]) if args else {}
    Loader.add_constructor("tag:yaml.org,2002:python/object/apply:collections.OrderedDict",
                           ordered_dict)
    try:
        value = yaml.load(read_bounded(path, 1 << 20).decode("utf-8"), Loader=Loader)
    except (yaml.YAMLError, UnicodeDecodeError, FileTooLarge, TypeError, ValueError) as exc:
        raise SB3FileError(f"{path}: not a readable zoo args file "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    if not isinstance(value, dict):
        raise SB3FileError(f"{path}: expected a mapping of the zoo's arguments")
    return value


def zoo_run(folder: pathlib.Path) -> tuple[pathlib.Path, dict]:
    """(model zip, {"env_id", "env_kwargs"}) of an rl-baselines3-zoo run folder."""
    folder = pathlib.Path(folder)
    args_files = sorted(folder.glob("*/args.yml"))
    if len(args_files) != 1:
        raise SB3FileError(f"{folder}: not an rl-baselines3-zoo run folder (expected one "
                           f"ENV/args.yml, found {len(args_files)})")
    args = _zoo_yaml(args_files[0])
    env_id = args.get("env")
    env_kwargs = args.get("env_kwargs") or {}
    if not isinstance(env_id, str) or not isinstance(env_kwargs, dict):
        raise SB3FileError(f"{args_files[0]}: env must be a string and env_kwargs a mapping")
    model = folder / f"{args_files[0].parent.name}.zip"
    if not model.is_file():
        raise SB3FileError(f"{folder}: no final model {model.name} (pass a model zip such as "
                           f"{folder / 'best_model.zip'} instead)")
    return model, {"env_id": env_id, "env_kwargs": env_kwargs}
