"""Gymnasium MuJoCo environments as the toolchain uses them (v4 and v5).

Ant-v5 is made with include_cfrc_ext_in_observation=False so that its observation is 27-dim,
like Ant-v4 (the layout the paper's actors and the bundled Ant policy use).
"""
from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np

from loihi_deploy.compiler.ir import EnvSpaces
from loihi_deploy.runtime import pixels  # sets MUJOCO_GL=egl (unless set) before mujoco loads

ENV_KWARGS = {"Ant-v5": {"include_cfrc_ext_in_observation": False}}
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


def make_env(env_id: str, **kwargs) -> gym.Env:
    """One gymnasium env; raises ValueError with the list of known ids if env_id is unknown.
    'X-pixels' is env X observed through 84x84 stacked frames with action repeat 2, and
    'X-repeat2' the same decisions observed through the state (runtime.pixels)."""
    wrapped = pixels.wrap(env_id, lambda base: make_env(base, **kwargs))
    if wrapped is not None:
        return wrapped
    if env_id not in gym.registry:
        mujoco_ids = sorted(k for k in gym.registry if k.split("-")[0] in MUJOCO_NAMES)
        raise ValueError(f"unknown environment {env_id!r}; MuJoCo ids known to gymnasium: "
                         f"{', '.join(mujoco_ids)} (append '-pixels' for pixel observations, '-repeat2' for action repeat 2)")
    _install_mujoco_warning_filter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # v4 envs emit a deprecation warning in gymnasium 1.x
        return gym.make(env_id, **{**ENV_KWARGS.get(env_id, {}), **kwargs})


MUJOCO_NAMES = {"Ant", "HalfCheetah", "Hopper", "Walker2d", "Humanoid", "HumanoidStandup",
                "InvertedPendulum", "InvertedDoublePendulum", "Pusher", "Reacher", "Swimmer"}


def _make_derived(env_id: str, **kwargs) -> gym.Env:
    return make_env(env_id, **kwargs)


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


def env_spaces(env_id: str) -> EnvSpaces:
    """The compiler's view of env_id (sizes and action bounds), read from one env instance."""
    env = make_env(env_id)
    try:
        return EnvSpaces(env_id, *space_sizes(env))
    finally:
        env.close()


register_derived_envs()
