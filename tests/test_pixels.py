"""Pixel environments: offscreen rendering, frame stacking, action repeat (runtime.pixels)."""
import numpy as np

from loihi_deploy.runtime.closed_loop import decisions_per_episode
from loihi_deploy.runtime.envs import make_env, space_sizes
from loihi_deploy.runtime.pixels import pixel_shape, state_env_id


def test_pixel_observation_layout_and_frame_stack():
    env = make_env("InvertedPendulum-v5-pixels")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (int(np.prod(pixel_shape())),) == (9 * 84 * 84,) and obs.dtype == np.uint8
    frames = obs.reshape(pixel_shape()).reshape(3, 3, 84, 84)
    assert np.array_equal(frames[0], frames[2]) and frames[0].max() > 0   # reset: one frame x3
    newest = None
    for _ in range(3):
        previous = newest
        obs, *_ = env.step(np.array([3.0]))
        frames = obs.reshape(3, 3, 84, 84)
        if previous is not None:
            assert np.array_equal(frames[1], previous)     # the stack slides by one frame
        newest = frames[2]
    assert not np.array_equal(frames[1], frames[2])        # the cart moved
    assert space_sizes(env)[:2] == (9 * 84 * 84, 1)
    assert decisions_per_episode(env) == 500               # 1000 env steps / action repeat 2
    env.close()


def test_action_repeat_matches_the_state_env():
    pixels, states = make_env("Hopper-v5-pixels"), make_env("Hopper-v5-repeat2")
    plain = make_env(state_env_id("Hopper-v5-pixels"))
    pixels.reset(seed=4), states.reset(seed=4), plain.reset(seed=4)
    rng = np.random.default_rng(0)
    for _ in range(10):
        action = rng.uniform(-1, 1, 3)
        _, r_pixels, *_ = pixels.step(action)
        _, r_states, *_ = states.step(action)
        r_plain = sum(plain.step(action)[1] for _ in range(2))
        assert r_pixels == r_states == r_plain
    for env in (pixels, states, plain):
        env.close()


def test_derived_envs_are_registered_with_gymnasium():
    import gymnasium as gym

    import loihi_deploy.runtime.envs  # noqa: F401  (registers the -pixels / -repeat2 ids)
    env = gym.make("InvertedPendulum-v5-repeat2")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4,)
    env.close()
    assert "HalfCheetah-v5-pixels" in gym.registry and "Hopper-v5-repeat2" in gym.registry
