"""Gymnasium MuJoCo environments as the toolchain uses them (v4 and v5).

An env id means what it means in gymnasium: `make_env("Ant-v5")` is gymnasium's default Ant-v5
(105 observations). Variants are made with gymnasium's own keyword arguments (env_kwargs), e.g.
{"include_cfrc_ext_in_observation": False} for the 27-dim Ant-v5 the bundled Ant policy uses;
bundles and policy metadata store them next to the env id (docs/environments.md).
"""
from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np

from loihi_deploy.compiler.files import parse_json
from loihi_deploy.compiler.ir import EnvSpaces
from loihi_deploy.compiler.limits import check_env_kwargs
from loihi_deploy.runtime import pixels  # sets MUJOCO_GL=egl (unless set) before mujoco loads

# gymnasium's v4 XML files use an attribute MuJoCo 4 deprecates; MuJoCo prints the warning from
# C once per env. It is harmless (the model compiles as before), so only that one is dropped.
KNOWN_HARMLESS_MUJOCO_WARNINGS = ("compiler attribute 'settotalmass' is deprecated",)


def _mujoco_warning(message: str) -> None:
    if not any(known in message for known in KNOWN_HARMLESS_MUJOCO_WARNINGS):
        warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)


def _install_mujoco_warning_filter() -> None:
    import mujoco
    if hasattr(mujoco, "set_mju_user_warning"):
        mujoco.set_mju_user_warning(_mujoco_warning)


def make_env(env_id: str, env_kwargs: dict | None = None) -> gym.Env:
    """One gymnasium env, `gym.make(env_id, **env_kwargs)`; raises ValueError with the list of
    known ids if env_id is unknown, or naming the keyword gymnasium rejected.
    'X-pixels' is env X observed through 84x84 stacked frames with action repeat 2, and
    'X-repeat2' the same decisions observed through the state (runtime.pixels)."""
    env_kwargs = dict(check_env_kwargs(env_kwargs or {}))
    wrapped = pixels.wrap(env_id, lambda base: make_env(base, env_kwargs))
    if wrapped is not None:
        return wrapped
    if env_id not in gym.registry:
        mujoco_ids = sorted(k for k in gym.registry if k.split("-")[0] in MUJOCO_NAMES)
        raise ValueError(f"unknown environment {env_id!r}; MuJoCo ids known to gymnasium: "
                         f"{', '.join(mujoco_ids)} (append '-pixels' for pixel observations, '-repeat2' for action repeat 2)")
    _install_mujoco_warning_filter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # v4 envs emit a deprecation warning in gymnasium 1.x
        try:
            env = gym.make(env_id, **env_kwargs)
            if env_kwargs:      # a value the constructor takes but a reset fails on
                env.reset(seed=0)   # (reset_noise_scale NaN); every use resets with a seed
            return env
        except Exception as exc:  # noqa: BLE001 - an unknown keyword, a value the env refuses
            raise ValueError(f"{env_id}: env_kwargs {str(env_kwargs)[:300]} rejected by "
                             f"gymnasium ({type(exc).__name__}: {str(exc)[:300]})") from None


def parse_env_kwargs(text: str | None) -> dict:
    """--env-kwargs: a JSON object of gymnasium keyword arguments, e.g.
    '{"include_cfrc_ext_in_observation": false}'; None or '' -> {}."""
    if not text:
        return {}
    value = parse_json(text, f"--env-kwargs {text[:80]!r}")
    if not isinstance(value, dict):
        raise ValueError(f"--env-kwargs {text!r}: expected a JSON object such as "
                         '\'{"include_cfrc_ext_in_observation": false}\'')
    return value


def describe_env(env_id: str, env_kwargs: dict | None) -> str:
    """'Ant-v5' or 'Ant-v5 (include_cfrc_ext_in_observation=False)' for tables and messages."""
    if not env_kwargs:
        return env_id
    return f"{env_id} ({', '.join(f'{k}={v!r}' for k, v in sorted(env_kwargs.items()))})"


MUJOCO_NAMES = {"Ant", "HalfCheetah", "Hopper", "Walker2d", "Humanoid", "HumanoidStandup",
                "InvertedPendulum", "InvertedDoublePendulum", "Pusher", "Reacher", "Swimmer"}


def _make_derived(env_id: str, **kwargs) -> gym.Env:
    return make_env(env_id, kwargs)


def register_derived_envs() -> list[str]:
    """Register every MuJoCo id's '-pixels' and '-repeat2' variants with gymnasium, so that
    `gym.make("HalfCheetah-v5-pixels")` works once this module is imported. Returns the ids
    registered now."""
    import functools
    added = []
    for base in sorted(gym.registry):
        name = base.split("-")[0]
        if name not in MUJOCO_NAMES or not base.split("-")[-1].startswith("v"):
            continue
        for suffix in (pixels.PIXEL_SUFFIX, pixels.REPEAT_SUFFIX):
            if base + suffix not in gym.registry:
                gym.register(id=base + suffix,
                             entry_point=functools.partial(_make_derived, base + suffix))
                added.append(base + suffix)
    return added


def space_sizes(env: gym.Env) -> tuple[int, int, np.ndarray, np.ndarray]:
    """(obs_dim, act_dim, action_low, action_high) of a Box/Box env."""
    obs, act = env.observation_space, env.action_space
    if not isinstance(obs, gym.spaces.Box) or len(obs.shape) != 1:
        raise ValueError(f"expected a flat Box observation space, got {obs}")
    if not isinstance(act, gym.spaces.Box) or len(act.shape) != 1:
        raise ValueError(f"expected a flat Box action space, got {act}")
    return obs.shape[0], act.shape[0], act.low.astype(np.float64), act.high.astype(np.float64)


def env_spaces(env_id: str, env_kwargs: dict | None = None) -> EnvSpaces:
    """The compiler's view of env_id (sizes and action bounds), read from one env instance."""
    env = make_env(env_id, env_kwargs)
    try:
        return EnvSpaces(env_id, *space_sizes(env), env_kwargs=dict(env_kwargs or {}))
    except ValueError as exc:
        raise ValueError(f"{env_id}: {exc}; loihi-deploy controls continuous (Box) "
                         f"environments") from None
    finally:
        env.close()


register_derived_envs()
