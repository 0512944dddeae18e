"""Continuing a run is refused unless it is the same run: train, distill and train-snn compare
the saved settings, the steps or iterations done, and every saved file (shapes, finite values,
counts) before any new work or file; the reasons name the file or the setting."""
import json
import shutil

import pytest
import torch
from torch import nn

from loihi_deploy.cli import main
from loihi_deploy.training.configs import DistillConfig, TrainConfig
from loihi_deploy.training.distill import distill
from loihi_deploy.training.snn.runs import BUNDLED
from loihi_deploy.training.train import train
from tests.reliability.test_hostile_files import _sb3_zip
from tests.test_snn_imitation import TINY


TRAIN = dict(algo="td3", env_id="InvertedPendulum-v5", steps=40, hidden=(8, 8),
             learning_starts=10, eval_every=40, checkpoint_every=40, eval_episodes=1,
             final_eval_episodes=1)
DISTILL = dict(expert="inverted_pendulum_v5_td3", env_id="InvertedPendulum-v5-pixels",
               iterations=1, episodes=1, updates=1, eval_episodes=1, final_eval_episodes=1)


def _tiny_train(tmp_path, **changes) -> TrainConfig:
    return TrainConfig(**{**TRAIN, "run_dir": str(tmp_path / "run"), **changes})


def _tiny_distill(tmp_path, **changes) -> DistillConfig:
    return DistillConfig(**{**DISTILL, "run_dir": str(tmp_path / "run"),
                            "out": str(tmp_path / "p.pt"), **changes})


def _finished_run(tmp_path_factory, command, config):
    """A finished tiny run folder (copied by each test that changes it)."""
    folder = tmp_path_factory.mktemp(command.__name__)
    command(config(folder), [])
    return folder / "run"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    return _finished_run(tmp_path_factory, train, _tiny_train)


@pytest.fixture(scope="module")
def distilled_run(tmp_path_factory):
    return _finished_run(tmp_path_factory, distill, _tiny_distill)


def _copy(run, tmp_path):
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def test_train_resumes_only_its_own_settings_and_names_those_that_differ(trained_run, tmp_path):
    _copy(trained_run, tmp_path)
    for change, said in (({"seed": 7}, "seed 0 -> 7"), ({"action_cost": 0.5}, "action_cost"),
                         ({"env_kwargs": '{"reset_noise_scale": 0.1}'}, "env_kwargs"),
                         ({"learning_starts": 30}, "learning_starts 10 -> 30"),
                         ({"init_from": "model.zip"}, "init_from")):
        with pytest.raises(ValueError, match=said):
            train(_tiny_train(tmp_path, steps=80, **change), [])
    with pytest.raises(ValueError, match="has done 40 steps, more than --steps 20"):
        train(_tiny_train(tmp_path, steps=20), [])


def test_train_refuses_damaged_run_folders_before_training(trained_run, tmp_path):
    run = _copy(trained_run, tmp_path)
    torch.save({"0.weight": torch.zeros(3, 4)}, run / "best_actor.pt")
    before = (run / "checkpoint" / "params.pt").read_bytes()
    with pytest.raises(ValueError, match="best_actor.pt: does not hold this network.s tensors"):
        train(_tiny_train(tmp_path, steps=80), [])
    assert (run / "checkpoint" / "params.pt").read_bytes() == before    # nothing trained
    (run / "best_actor.pt").unlink()
    (run / "checkpoint" / "state.json").unlink()      # was: a silent restart over the run
    with pytest.raises(ValueError, match="no checkpoint/state.json"):
        train(_tiny_train(tmp_path, steps=80), [])
    (tmp_path / "afile").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        train(_tiny_train(tmp_path, run_dir=str(tmp_path / "afile")), [])


def test_init_from_refuses_what_it_cannot_continue(trained_run, tmp_path):
    with pytest.raises(ValueError, match="has done 40 steps, which count towards --steps 40"):
        train(_tiny_train(tmp_path, init_from=str(trained_run)), [])
    with pytest.raises(ValueError, match="activation .*Tanh"):    # same shapes, not ReLU
        train(_tiny_train(tmp_path, init_from=str(_sb3_zip(tmp_path, activation=nn.Tanh))), [])
    source = _copy(trained_run, tmp_path / "nan")
    params = torch.load(source / "checkpoint" / "params.pt", weights_only=True)
    params["policy"]["actor.mu.0.weight"][0, 0] = float("nan")
    torch.save(params, source / "checkpoint" / "params.pt")
    with pytest.raises(ValueError, match="params.pt: policy.actor.mu.0.weight holds NaN"):
        train(_tiny_train(tmp_path, steps=80, init_from=str(source)), [])
    assert not (tmp_path / "run").exists()


def test_a_gsde_sac_zip_is_refused_for_its_clipped_mean(tmp_path):
    import stable_baselines3 as sb3

    from loihi_deploy.api import load_ann
    from loihi_deploy.compiler.frontend import PolicyLoadError
    from loihi_deploy.runtime.envs import make_env
    sb3.SAC("MlpPolicy", make_env("InvertedPendulum-v5"), use_sde=True, device="cpu",
            policy_kwargs={"net_arch": [8, 8]}).save(tmp_path / "sde.zip")
    with pytest.raises(PolicyLoadError, match="gSDE .*Hardtanh"):
        load_ann(tmp_path / "sde.zip", "InvertedPendulum-v5")


def test_distill_resumes_only_its_own_settings(distilled_run, tmp_path):
    _copy(distilled_run, tmp_path)
    for change, said in (({"expert": "inverted_double_pendulum_v5_td3",
                           "env_id": "InvertedDoublePendulum-v5-pixels"}, "expert"),
                         ({"seed": 3}, "seed 0 -> 3"), ({"noise": 0.2}, "noise")):
        with pytest.raises(ValueError, match=said):
            distill(_tiny_distill(tmp_path, iterations=2, **change), [])
    with pytest.raises(ValueError, match="has done 1 iterations, more than --iterations 0"):
        distill(_tiny_distill(tmp_path, iterations=0), [])
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == \
        sorted(p.name for p in distilled_run.iterdir())          # nothing new written


@pytest.mark.parametrize("damage, said", [
    (lambda run: _edit_json(run / "progress.json", lambda p: p.update(best=[1])),
     "best is malformed"),
    (lambda run: _edit_json(run / "progress.json", lambda p: p.update(iterations=[1])),
     r"iterations\[0\] is malformed"),
    (lambda run: _edit_json(run / "progress.json",
                            lambda p: p["iterations"][0].update(frames=3)),
     "progress.json counts 3"),
    (lambda run: _edit_npz(run / "data_0.npz", labels=lambda a: a[:, :0]), "data_0.npz: frames"),
    (lambda run: _edit_npz(run / "data_0.npz", labels=lambda a: a * float("nan")),
     "data_0.npz: labels hold NaN"),
    (lambda run: _edit_npz(run / "data_0.npz", frames=lambda a: a[:-1]), "data_0.npz: frames"),
    (lambda run: _edit_student(run, lambda s: s["student"]["0.weight"].fill_(float("nan"))),
     r"student.pt: 0.weight holds NaN"),
    (lambda run: _edit_student(run, lambda s: s["student"].update(extra=torch.zeros(1))),
     "student.pt: does not hold this network.s tensors"),
    (lambda run: (run / "student.pt").unlink(), "progress.json without student.pt"),
])
def test_distill_refuses_damaged_run_folders_naming_the_file(distilled_run, tmp_path, damage,
                                                             said):
    run = _copy(distilled_run, tmp_path)
    damage(run)
    with pytest.raises(ValueError, match=said):
        distill(_tiny_distill(tmp_path, iterations=2), [])
    assert not (run / "data_1.npz").exists()      # refused before collecting


def _edit_json(path, edit):
    obj = json.loads(path.read_text())
    edit(obj)
    path.write_text(json.dumps(obj))


def _edit_npz(path, **edits):
    import numpy as np
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    for name, edit in edits.items():
        arrays[name] = edit(arrays[name]).astype(arrays[name].dtype)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _edit_student(run, edit):
    saved = torch.load(run / "student.pt", weights_only=True)
    edit(saved)
    torch.save(saved, run / "student.pt")


def test_a_teacher_with_nan_weights_or_replaced_since_is_refused(tmp_path, capsys):
    teacher = tmp_path / "teacher"
    args = [*TINY[:-1], str(teacher), "--iterations", "1", "--out", str(tmp_path / "run")]
    shutil.copytree(BUNDLED / "reach2d_gru", teacher)
    assert main(args) == 0
    state = torch.load(teacher / "policy.pt", weights_only=True)
    state["head.bias"] += 1.0             # another teacher behind the same path
    torch.save(state, teacher / "policy.pt")
    capsys.readouterr()
    assert main([*args[:-3], "2", *args[-2:]]) == 2
    assert "imitated another run than the one now in --teacher" in capsys.readouterr().err
    state["head.bias"][0] = float("nan")
    torch.save(state, teacher / "policy.pt")
    assert main([*args[:-3], "1", "--out", str(tmp_path / "other")]) == 2
    assert "policy.pt: head.bias holds NaN" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()
