"""Pixel observations for MuJoCo tasks: offscreen CPU rendering, frame stacking, action repeat.

Env ids (runtime.envs.make_env):
  "HalfCheetah-v5-pixels"   PixelObservation(ActionRepeat(HalfCheetah-v5, 2)): the pixel task
  "HalfCheetah-v5-repeat2"  ActionRepeat(HalfCheetah-v5, 2): the same decisions, observed
                            through the state (the pixel task's experts train on it)
Every decision repeats the action `action_repeat` (2) env steps (rewards summed), then renders
one 84x84 RGB frame; the observation is the last `frames` (3) frames stacked on the channel
axis, flattened in (C, H, W) order: a uint8 vector of 9 * 84 * 84 = 63504 entries in [0, 255].

Rendering is MuJoCo's own OpenGL renderer on the CPU, through EGL (Mesa's llvmpipe; default) or
OSMesa (MUJOCO_GL=osmesa), with shadows, reflections, the skybox and multisampling off (but
see CLOSE_UP). The
camera is a close-up tracking camera for the tasks in CLOSE_UP, the model's tracking camera
"track" where it has one (locomotion), otherwise MuJoCo's default free camera moved by
gymnasium's default camera settings for the env.
The system libraries come with `make install` (tools/render_deps.sh); a machine without them
gets RenderUnavailable naming the packages.
"""
from __future__ import annotations

import os

import gymnasium as gym
import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")   # read once, when mujoco is first imported

PIXEL_SUFFIX, REPEAT_SUFFIX = "-pixels", "-repeat2"
# Tasks whose default view is too coarse for 84 pixels: fixed camera (look-at point m,
# distance m, elevation deg, azimuth deg, multisamples). InvertedPendulum's pole moves 0.3 px
# per 0.01 rad in gymnasium's 1.7 m wide view; this one is 1.25 m wide (the cart stays visible
# for |x| < 0.6 m) and fixed, so the cart's position and velocity remain visible against the
# frame; 4x multisampling anti-aliases the edges, so sub-pixel motion shows in the frame
# differences the policy reads velocities from (the scene is 3 geoms: it costs ~nothing).
CLOSE_UP = {"InvertedPendulumEnv": ((0.0, 0.0, 0.25), 1.5, 0.0, 90.0, 4)}
SIZE, FRAMES, ACTION_REPEAT = 84, 3, 2


class RenderUnavailable(RuntimeError):
    """Offscreen rendering could not start (no EGL / OSMesa)."""


def is_pixel_env(env_id: str) -> bool:
    return env_id.endswith(PIXEL_SUFFIX)


def state_env_id(env_id: str) -> str:
    """'HalfCheetah-v5-pixels' or '-repeat2' -> 'HalfCheetah-v5' (other ids unchanged)."""
    for suffix in (PIXEL_SUFFIX, REPEAT_SUFFIX):
        if env_id.endswith(suffix):
            return env_id[:-len(suffix)]
    return env_id


def wrap(env_id: str, make_state_env) -> gym.Env | None:
    """The wrapped env for a '-pixels' / '-repeat2' id (None for a plain id)."""
    base = state_env_id(env_id)
    if base == env_id:
        return None
    env = ActionRepeat(make_state_env(base), ACTION_REPEAT)
    return PixelObservation(env) if is_pixel_env(env_id) else env


class ActionRepeat(gym.Wrapper):
    """Each step holds the action for `repeat` env steps and sums their rewards (stops early at
    the end of the episode)."""

    def __init__(self, env: gym.Env, repeat: int = ACTION_REPEAT):
        super().__init__(env)
        self.action_repeat = int(repeat)

    def step(self, action):
        total, terminated, truncated, info = 0.0, False, False, {}
        for _ in range(self.action_repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


def pixel_shape(frames: int = FRAMES, size: int = SIZE) -> tuple[int, int, int]:
    """(C, H, W) of one pixel observation."""
    return 3 * frames, size, size


class PixelObservation(gym.Wrapper):
    """MuJoCo env -> stacked-frame pixel observations, one frame per step (module doc)."""

    def __init__(self, env: gym.Env, size: int = SIZE, frames: int = FRAMES):
        super().__init__(env)
        self.size, self.frames = size, frames
        self.action_repeat = getattr(env, "action_repeat", 1)
        c, h, w = pixel_shape(frames, size)
        self.observation_space = gym.spaces.Box(0, 255, (c * h * w,), np.uint8)
        self._renderer = None
        self._camera = None
        self._stack: list[np.ndarray] = []

    def _render(self) -> np.ndarray:
        """(3, H, W) uint8 frame of the current state."""
        import mujoco
        model, data = self.env.unwrapped.model, self.env.unwrapped.data
        if self._renderer is None:
            task = type(self.env.unwrapped).__name__
            # no multisampling, except where a close-up asks for anti-aliased edges
            model.vis.quality.offsamples = CLOSE_UP[task][4] if task in CLOSE_UP else 0
            try:
                self._renderer = mujoco.Renderer(model, self.size, self.size)
            except Exception as exc:  # noqa: BLE001 - any GL start-up failure
                raise RenderUnavailable(
                    f"offscreen rendering (MUJOCO_GL={os.environ.get('MUJOCO_GL')}) failed: "
                    f"{type(exc).__name__}: {exc}. Pixel environments need EGL (Debian: libegl1 "
                    f"libgl1-mesa-dri) or OSMesa (libosmesa6, MUJOCO_GL=osmesa); `make install` "
                    f"installs them (tools/render_deps.sh)") from None
            flags = self._renderer.scene.flags
            for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION,
                         mujoco.mjtRndFlag.mjRND_SKYBOX):
                flags[flag] = False
            names = [model.camera(i).name for i in range(model.ncam)]
            if task in CLOSE_UP:
                cam = mujoco.MjvCamera()
                mujoco.mjv_defaultFreeCamera(model, cam)
                lookat, cam.distance, cam.elevation, cam.azimuth, _ = CLOSE_UP[task]
                cam.lookat[:] = lookat
                self._camera = cam
            elif "track" in names:
                self._camera = "track"
            else:
                cam = mujoco.MjvCamera()
                mujoco.mjv_defaultFreeCamera(model, cam)
                config = getattr(self.env.unwrapped.mujoco_renderer, "default_cam_config", None)
                for key, value in (config or {}).items():
                    if key == "lookat":
                        cam.lookat[:] = value
                    elif key in ("distance", "azimuth", "elevation"):
                        setattr(cam, key, value)
                self._camera = cam
        self._renderer.update_scene(data, camera=self._camera)
        return self._renderer.render().transpose(2, 0, 1).copy()

    def _observation(self) -> np.ndarray:
        return np.concatenate(self._stack, axis=0).reshape(-1)

    def reset(self, **kwargs):
        _, info = self.env.reset(**kwargs)
        frame = self._render()
        self._stack = [frame] * self.frames
        return self._observation(), info

    def step(self, action):
        _, reward, terminated, truncated, info = self.env.step(action)
        self._stack = self._stack[1:] + [self._render()]
        return self._observation(), reward, terminated, truncated, info

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        super().close()
