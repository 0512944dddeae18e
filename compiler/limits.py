"""Limits on every size a user or a file controls, checked before memory is allocated
(docs/reliability.md lists them). Generous for real use, far below what exhausts a machine.
"""
import math
import os

MAX_TIMESTEPS = 4096          # internal SNN steps per decision (the paper uses <= 64)
MAX_ALPHAS = 101              # CRPI alpha grid points per sweep (0:1:0.01)
MAX_EPISODES = 1000           # episodes in one run, check or evaluation (each holds an env)
MAX_SWEEP_ROWS = 5000         # alphas x episodes in one sweep
MAX_CALIB_EPISODES = 1000     # calibration episodes
MAX_DECISIONS = 1_000_000     # decisions of one verify run
MAX_ITERATIONS = 100_000      # training iterations (train-snn, distill)
MAX_HIDDEN_UNITS = 4096       # hidden units per layer of a train-snn network read from a run
MAX_SUBSTEPS = 64             # 2 ms substeps per env step of such a network
MAX_SEED = 2 ** 32 - 1         # random and episode reset seeds (>= 0, as gymnasium requires)
MAX_TRAIN_STEPS = 100_000_000 # env steps of one `train` run
MAX_REPLAY_BUFFER = 1_000_000 # transitions its replay buffer holds (SB3's default)
MAX_BATCH = 65_536            # windows or episodes per train-snn batch
MAX_THREADS = 256             # torch threads of a training run
MAX_SHIFT = 32                # distill's random-shift augmentation, pixels


# gymnasium keywords that size the work of one env step or one episode, and their limits: a
# bundle or policy file declaring frame_skip 10**9 would make one step a C loop that no signal
# interrupts (docs/reliability.md)
ENV_KWARG_LIMITS = {"frame_skip": 1000, "max_episode_steps": 100_000, "width": 4096,
                    "height": 4096}


def check_env_kwargs(env_kwargs) -> dict:
    """env_kwargs from a file or the command line, checked before gymnasium sees them: string
    keys; values numbers (finite), strings, booleans, null, short lists of those, or objects
    of those; the sizing keywords (ENV_KWARG_LIMITS) integers within their limits;
    render_mode none or an off-screen mode (a window aborts the process on a machine without a
    display); an xml_file a regular file (a FIFO would block the open forever). ValueError
    otherwise."""
    if not isinstance(env_kwargs, dict) or not all(isinstance(k, str) for k in env_kwargs):
        raise ValueError(f"env_kwargs must be a mapping of keyword names, got "
                         f"{env_kwargs!r:.200}")
    for key, value in env_kwargs.items():
        shallow = _flat(value) or isinstance(value, dict) and len(value) <= 64 and all(
            isinstance(k, str) and _flat(v) for k, v in value.items())
        if not shallow:
            raise ValueError(f"env_kwargs {key}={value!r:.80}: expected a finite number, a "
                             f"string, a boolean, null, a short list of those, or an object "
                             f"of those")
    for key, limit in ENV_KWARG_LIMITS.items():
        value = env_kwargs.get(key)
        if key in env_kwargs and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 1 <= value <= limit):
            raise ValueError(f"env_kwargs {key}={value!r:.50}: must be an integer in [1, "
                             f"{limit}]")
    if env_kwargs.get("render_mode") not in (None, "rgb_array", "depth_array"):
        raise ValueError(f"env_kwargs render_mode={env_kwargs['render_mode']!r:.50}: only "
                         f"rgb_array or depth_array (off-screen) are allowed")
    if "xml_file" in env_kwargs:
        _check_xml_file(env_kwargs["xml_file"])
    return env_kwargs


def _flat(value) -> bool:
    """A JSON scalar (numbers finite) or a list of at most 64 of them."""
    if isinstance(value, (list, tuple)):
        return len(value) <= 64 and all(_flat(v) and not isinstance(v, (list, tuple))
                                        for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (bool, int, str, type(None)))


def _check_xml_file(value) -> None:
    """gymnasium's MuJoCo envs read xml_file as a path when it starts with "/" or ".", else as
    a file in their assets folder; either way it must be a regular file of at most 64 MiB."""
    import importlib.util
    if not isinstance(value, str):
        raise ValueError(f"env_kwargs xml_file={value!r:.80}: expected a path")
    if value.startswith(("/", ".")):
        path = value
    else:
        spec = importlib.util.find_spec("gymnasium.envs.mujoco")
        path = os.path.join(os.path.dirname(spec.origin), "assets", value) if spec else value
    if not os.path.isfile(path) or os.path.getsize(path) > 64 << 20:
        raise ValueError(f"env_kwargs xml_file={value!r:.200}: not a regular file of at most "
                         f"64 MiB")
