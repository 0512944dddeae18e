"""SB3 models as users have them: VecNormalize statistics folded into the first layer (read
without unpickling: compiler.pickle_data) and rl-baselines3-zoo run folders (compiler.sb3)."""
import collections
import pathlib
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest

from loihi_deploy.api import load_ann, policy_env
from loihi_deploy.compiler.frontend import PolicyLoadError

ENV_ID, ENV_KWARGS = "InvertedPendulum-v5", {"reset_noise_scale": 0.05}
MARKER = pathlib.Path("/tmp/loihi_deploy_pwned_marker")


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory):
    """logs/td3/ENV_1 as rl-baselines3-zoo writes it: ENV.zip, ENV/vecnormalize.pkl,
    ENV/args.yml (an OrderedDict dumped by PyYAML)."""
    import gymnasium as gym
    import stable_baselines3 as sb3
    import yaml
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
    run = tmp_path_factory.mktemp("logs") / "td3" / f"{ENV_ID}_1"
    (run / ENV_ID).mkdir(parents=True)
    venv = VecNormalize(DummyVecEnv([lambda: gym.make(ENV_ID, **ENV_KWARGS)]), clip_obs=2.0)
    model = sb3.TD3("MlpPolicy", venv, seed=0, learning_starts=50, device="cpu",
                    policy_kwargs={"net_arch": [32, 32]})
    model.learn(200)
    model.save(run / ENV_ID)
    venv.save(run / ENV_ID / "vecnormalize.pkl")
    args = collections.OrderedDict([("algo", "td3"), ("env", ENV_ID), ("env_kwargs", ENV_KWARGS),
                                    ("seed", 0)])
    (run / ENV_ID / "args.yml").write_text(yaml.dump(args))
    return run, model, venv


def test_vecnormalize_is_folded_exactly(zoo_run):
    run, model, venv = zoo_run
    ann = load_ann(str(run))
    rng = np.random.default_rng(0)
    obs = rng.normal(0, 1, (300, 4)) * venv.obs_rms.var ** 0.5 + venv.obs_rms.mean
    obs[:20] *= 100          # far outside: the clip binds
    assert np.any(np.abs(venv.normalize_obs(obs)) == venv.clip_obs)
    expected = model.predict(venv.normalize_obs(obs), deterministic=True)[0]
    np.testing.assert_allclose(ann.forward(obs), expected, atol=2e-6)   # SB3 runs float32
    assert ann.source["vecnormalize"]["clip_obs"] == 2.0


def test_a_zoo_folder_names_its_env(zoo_run):
    run, _, _ = zoo_run
    assert policy_env(run) == (ENV_ID, ENV_KWARGS)


def test_cli_compiles_and_runs_a_zoo_folder(zoo_run, tmp_path):
    run, _, _ = zoo_run
    cli = [sys.executable, "-m", "loihi_deploy"]
    out = subprocess.run([*cli, "compile", str(run), "-T", "8", "--calib-episodes", "1",
                          "--profile", "fixed", "-o", str(tmp_path / "p.h5")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "InvertedPendulum-v5 (reset_noise_scale=0.05)" in out.stdout
    from loihi_deploy.compiler.bundle import load_bundle
    graph = load_bundle(tmp_path / "p.h5")
    assert graph.input_clip is not None and graph.env_kwargs == ENV_KWARGS
    ran = subprocess.run([*cli, "run", str(tmp_path / "p.h5"), "--episodes", "2"],
                         capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    exported = subprocess.run([*cli, "export", str(tmp_path / "p.h5"), "-o",
                               str(tmp_path / "p.nir")], capture_output=True, text=True)
    assert "observation clip" in exported.stdout


def test_a_model_zip_beside_zoo_statistics_uses_them(zoo_run, tmp_path):
    run, _, _ = zoo_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    shutil.copy(copy / f"{ENV_ID}.zip", copy / "best_model.zip")
    assert "vecnormalize" in load_ann(str(copy / "best_model.zip"), ENV_ID).source
    (copy / "other").mkdir()
    shutil.copy(copy / ENV_ID / "vecnormalize.pkl", copy / "other" / "vecnormalize.pkl")
    with pytest.raises(PolicyLoadError, match="several VecNormalize files"):
        load_ann(str(copy / "best_model.zip"), ENV_ID)


class _Exploit:
    def __reduce__(self):
        import os
        return (os.system, (f"touch {MARKER}",))


def _statistics_file(tmp_path, zoo_run, content: bytes) -> pathlib.Path:
    run, _, _ = zoo_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / ENV_ID / "vecnormalize.pkl").write_bytes(content)
    return copy


@pytest.mark.parametrize("content,why", [
    (pickle.dumps(_Exploit()), "system, which this reader does not accept"),
    (pickle.dumps({"obs_rms": 1}), "not a saved VecNormalize"),
    (b"(ibuiltins\nobject\n.", "opcode INST"),
    (b"\x80\x04\x95", "pickle"),
    (b"", "pickle"),
])
def test_hostile_statistics_are_refused_without_running_them(tmp_path, zoo_run, content, why):
    MARKER.unlink(missing_ok=True)
    run = _statistics_file(tmp_path, zoo_run, content)
    with pytest.raises(PolicyLoadError, match=why) as info:
        load_ann(str(run))
    assert "vecnormalize.pkl" in str(info.value)
    assert not MARKER.exists()


def test_a_truncated_real_statistics_file_is_refused(tmp_path, zoo_run):
    run, _, _ = zoo_run
    raw = (run / ENV_ID / "vecnormalize.pkl").read_bytes()
    copy = _statistics_file(tmp_path, zoo_run, raw[: len(raw) // 2])
    with pytest.raises(PolicyLoadError, match="vecnormalize.pkl"):
        load_ann(str(copy))


def test_zoo_args_with_python_objects_are_refused(tmp_path, zoo_run):
    run, _, _ = zoo_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / ENV_ID / "args.yml").write_text(
        f"!!python/object/apply:os.system ['touch {MARKER}']\n")
    with pytest.raises(PolicyLoadError, match="args.yml"):
        load_ann(str(copy))
    assert not MARKER.exists()
