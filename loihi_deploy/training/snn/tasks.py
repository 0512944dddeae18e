"""Reaching tasks (gymnasium API) for the predictive-control controllers (docs/snn_control.md).

Every task's observation starts with the hand (end-effector) position, obs[:target_dim], the
quantity the policy brings to info["target"]; `distance` in info is |hand - target| in metres.

Reach2D: planar two-link arm (links 0.5 m and 0.4 m), acceleration control.
    state     joint angles q (2), joint velocities dq (2)
    action    joint accelerations, [-1, 1]^2 times MAX_ACCELERATION rad/s^2
    step      dq += a dt; q += dq dt (semi-implicit Euler), dt = 0.02 s; |dq| <= MAX_VELOCITY
    obs       hand xy (2), sin q (2), cos q (2)        (velocities are not observed)
    target    a hand position drawn by forward kinematics of random joint angles (so it is
              reachable), in info["target"] and env.target; reward = -distance to it
    episodes  200 steps; start from random angles at rest
Metrics: `distance` per step; success = final distance < SUCCESS_RADIUS; time on target =
fraction of steps within SUCCESS_RADIUS.
"""
from __future__ import annotations

import pathlib

import gymnasium as gym
import numpy as np

LINKS = (0.5, 0.4)
DT, MAX_ACCELERATION, MAX_VELOCITY = 0.02, 20.0, 6.0
EPISODE_STEPS, SUCCESS_RADIUS = 200, 0.05


def hand_position(q: np.ndarray) -> np.ndarray:
    """(..., 2) joint angles -> (..., 2) hand xy."""
    l1, l2 = LINKS
    return np.stack([l1 * np.cos(q[..., 0]) + l2 * np.cos(q[..., 0] + q[..., 1]),
                     l1 * np.sin(q[..., 0]) + l2 * np.sin(q[..., 0] + q[..., 1])], axis=-1)


class Reach2D(gym.Env):
    metadata = {"render_modes": []}
    obs_dim, act_dim, target_dim = 6, 2, 2
    success_radius = SUCCESS_RADIUS

    def __init__(self):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.act_dim,), np.float64)
        self.q = np.zeros(2)
        self.dq = np.zeros(2)
        self.target = np.zeros(2)
        self.steps = 0

    def _obs(self) -> np.ndarray:
        return np.concatenate([hand_position(self.q), np.sin(self.q), np.cos(self.q)])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.q = self.np_random.uniform(-np.pi, np.pi, 2)
        self.dq = np.zeros(2)
        self.target = hand_position(self.np_random.uniform(-np.pi, np.pi, 2))
        self.steps = 0
        return self._obs(), {"target": self.target.copy()}

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0) * MAX_ACCELERATION
        self.dq = np.clip(self.dq + a * DT, -MAX_VELOCITY, MAX_VELOCITY)
        self.q = self.q + self.dq * DT
        self.steps += 1
        distance = float(np.linalg.norm(hand_position(self.q) - self.target))
        return (self._obs(), -distance, False, self.steps >= EPISODE_STEPS,
                {"target": self.target.copy(), "distance": distance})


PANDA_MJCF = pathlib.Path(__file__).with_name("assets") / "panda_torque.xml"


class PandaReach(gym.Env):
    """Franka Panda torque-control reaching in MuJoCo (assets/panda_torque.xml: Menagerie's
    kinematics and inertias, joint 7 locked, gravity compensated, see its header).
    state     6 joint angles and velocities (MuJoCo; 2 ms steps, 10 per env step = 20 ms)
    action    [-1, 1]^6 times the torque limits [87 87 87 87 12 12] Nm (the motors' gear)
    obs       end-effector xyz (3, metres, base frame), joint angles (6, rad)
    target    forward kinematics of random joint angles home + U(-0.8, 0.8) rad (in range),
              so it is reachable; start: home + U(-0.1, 0.1) rad, at rest
    episodes  200 steps (4 s); success: final distance < 0.12 m (docs/snn_control.md)."""
    metadata = {"render_modes": []}
    obs_dim, act_dim, target_dim = 9, 6, 3
    success_radius = 0.12
    HOME = np.array([0.0, 0.0, 0.0, -1.57079, 0.0, 1.57079])
    SUBSTEPS, TARGET_SPREAD, START_SPREAD = 10, 0.8, 0.1

    def __init__(self):
        import mujoco
        self._mj = mujoco
        self.model = mujoco.MjModel.from_xml_path(str(PANDA_MJCF))
        self.data = mujoco.MjData(self.model)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.act_dim,), np.float64)
        self._site = self.model.site("end_effector").id
        self.target = np.zeros(3)
        self.steps = 0

    def _angles_in_range(self, spread: float) -> np.ndarray:
        low, high = self.model.jnt_range[:, 0], self.model.jnt_range[:, 1]
        return np.clip(self.HOME + self.np_random.uniform(-spread, spread, 6), low, high)

    def _hand(self) -> np.ndarray:
        return self.data.site_xpos[self._site].copy()

    def _obs(self) -> np.ndarray:
        return np.concatenate([self._hand(), self.data.qpos])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._mj.mj_resetData(self.model, self.data)
        self.data.qpos[:] = self._angles_in_range(self.TARGET_SPREAD)
        self._mj.mj_kinematics(self.model, self.data)
        self.target = self._hand()
        self.data.qpos[:] = self._angles_in_range(self.START_SPREAD)
        self.data.qvel[:] = 0.0
        self._mj.mj_forward(self.model, self.data)
        self.model.site_pos[self.model.site("target").id] = self.target
        self.steps = 0
        return self._obs(), {"target": self.target.copy()}

    def step(self, action):
        self.data.ctrl[:] = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self._mj.mj_step(self.model, self.data, nstep=self.SUBSTEPS)
        self.steps += 1
        distance = float(np.linalg.norm(self._hand() - self.target))
        return (self._obs(), -distance, False, self.steps >= EPISODE_STEPS,
                {"target": self.target.copy(), "distance": distance})


TASKS = {"reach2d": Reach2D, "panda": PandaReach}


def task_type(name: str) -> type:
    """The task's class (its obs_dim, act_dim, target_dim, success_radius) by name."""
    if not isinstance(name, str) or name not in TASKS:      # a list from a file: unhashable
        raise ValueError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}")
    return TASKS[name]


def make_task(name: str) -> gym.Env:
    return task_type(name)()


class GoalObservation(gym.ObservationWrapper):
    """The controller's input: the task's observation followed by the episode's target, so a
    reaching task runs through runtime.closed_loop.run_episodes like any gymnasium env."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        size = env.unwrapped.obs_dim + env.unwrapped.target_dim
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float64)

    def observation(self, obs: np.ndarray) -> np.ndarray:
        return np.concatenate([obs, self.env.unwrapped.target])


TASK_IDS = {name: f"loihi_deploy/{cls.__name__}-v0" for name, cls in TASKS.items()}


def controller_inputs(rollout: dict, input_change: bool = False) -> np.ndarray:
    """(E, L, d) what a controller received at each step of recorded episodes (obs (E, L+1,
    ...), target (E, t)): the observation, then the target (GoalObservation's layout), then,
    with input_change, the observation's change since the previous step (ObservationChange)."""
    obs = rollout["obs"][:, :-1]
    target = np.broadcast_to(rollout["target"][:, None, :],
                             (*obs.shape[:2], rollout["target"].shape[1]))
    parts = [obs, target]
    if input_change:
        parts.append(np.diff(obs, axis=1, prepend=obs[:, :1]))
    return np.concatenate(parts, axis=2)


class ObservationChange:
    """The input encoding of a policy trained with `--input-change` (docs/snn_control.md,
    "The observation's change"), as a controller wrapper computed on the host: the wrapped
    controller gets x (B, d) followed by x[:, :dims] - its value at the previous step (0 at an
    episode's first step), i.e. the observation's change per env step. Attributes the wrapped
    controller has (counters, latencies) are read through."""

    def __init__(self, controller, dims: int):
        self.controller, self.dims = controller, int(dims)
        self.previous = None

    def reset(self) -> None:
        self.previous = None
        self.controller.reset()

    def act(self, x: np.ndarray) -> np.ndarray:
        observation = np.asarray(x, dtype=np.float64)[:, :self.dims]
        change = (np.zeros_like(observation) if self.previous is None
                  else observation - self.previous)
        self.previous = observation.copy()
        return self.controller.act(np.concatenate([x, change], axis=1))

    def __getattr__(self, name):
        if "controller" not in self.__dict__:     # not initialised yet (copy.copy makes one)
            raise AttributeError(name)
        return getattr(self.__dict__["controller"], name)


def encoded_controller(controller, task: str, input_change: bool):
    """The controller as a policy trained with or without --input-change expects its inputs
    (ObservationChange over the task's observation, or the controller itself)."""
    return ObservationChange(controller, task_type(task).obs_dim) if input_change else controller


def policy_input_dim(task: str, input_change: bool) -> int:
    """Inputs of a task's policy: observation, target, and the observation's change."""
    env = task_type(task)
    return env.obs_dim + env.target_dim + (env.obs_dim if input_change else 0)


"""Gymnasium ids of the reaching tasks with goal observations (registered on import)."""


def _make_goal_task(name: str, **kwargs) -> gym.Env:
    return GoalObservation(make_task(name))


for _name, _id in TASK_IDS.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=f"{__name__}:_make_goal_task",
                     kwargs={"name": _name}, max_episode_steps=EPISODE_STEPS)
