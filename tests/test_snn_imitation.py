"""train-snn --teacher: a policy trained by imitating a trained run (DAgger)."""
import copy
import json

import numpy as np
import pytest
import torch

from loihi_deploy.training.snn.imitation import (imitation_loss, load_teacher, teacher_actions,
                                                 teacher_acts)
from loihi_deploy.training.snn.predictive import policy_controller, rollout
from tests.test_snn_training import _numbers_of

TINY = ["train-snn", "--model", "snn", "--hidden", "16", "--rank", "4", "--batch", "2",
        "--policy-batches", "2", "--episodes", "2", "--kernels", "fused", "--threads", "1",
        "--lr-schedule", "constant", "--teacher", "reach2d_gru"]


def test_imitation_run_trains_no_model_and_resumes_to_the_uninterrupted_numbers(tmp_path):
    from loihi_deploy.cli import main
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main([*TINY, "--iterations", "2", "--out", str(straight)]) == 0
    assert main([*TINY, "--iterations", "1", "--out", str(split)]) == 0
    assert main([*TINY, "--iterations", "2", "--out", str(split)]) == 0   # continues: 1 -> 2
    result = json.loads((straight / "metrics.json").read_text())
    assert result["config"]["teacher"] == "reach2d_gru" and "model" not in result["parameters"]
    assert not (straight / "model.pt").exists()
    assert "model" not in torch.load(straight / "checkpoint.pt", weights_only=True)
    assert all(row["imitation_mse"] > 0 and "prediction_mse" not in row
               for row in result["history"])
    assert _numbers_of(straight) == _numbers_of(split)     # made in this process: see there
    a, b = (torch.load(run / "policy.pt", weights_only=True) for run in (straight, split))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_teacher_labels_its_own_episodes_with_the_actions_it_took():
    """Online (the host's ObservationChange) and from the recording (teacher_actions)."""
    teacher, input_change = load_teacher("reach2d_gru", "reach2d", torch.device("cpu"))
    assert input_change is True                   # the bundled reach2d_gru takes the change
    episodes = rollout(policy_controller(teacher, 3, "reach2d", input_change), "reach2d",
                       range(3))
    np.testing.assert_allclose(teacher_actions(teacher, episodes, input_change),
                               episodes["act"], atol=1e-6)


def test_the_teacher_acts_in_every_first_episode_and_then_ever_more_rarely():
    rng = np.random.default_rng(0)
    assert teacher_acts(0, 100, rng).all()
    assert 0.4 < teacher_acts(1, 1000, rng).mean() < 0.6
    assert teacher_acts(20, 1000, rng).sum() == 0


def test_imitation_loss_falls_as_the_student_learns_the_teachers_actions():
    from loihi_deploy.training.configs import SNNTrainConfig
    from loihi_deploy.training.snn.predictive import build_networks
    from loihi_deploy.training.snn.tasks import controller_inputs
    torch.manual_seed(0)
    teacher, change = load_teacher("reach2d_gru", "reach2d", torch.device("cpu"))
    episodes = rollout(policy_controller(teacher, 4, "reach2d", change), "reach2d", range(4))
    inputs = torch.tensor(controller_inputs(episodes, change)[:, :30], dtype=torch.float32)
    labels = torch.tensor(teacher_actions(teacher, episodes, change)[:, :30],
                          dtype=torch.float32)
    _, student = build_networks(SNNTrainConfig(hidden=16, rank=4, input_change=change), 6, 2, 2)
    student.input_mean.copy_(teacher.input_mean)
    student.input_std.copy_(teacher.input_std)
    optimiser = torch.optim.Adam(student.parameters(), 1e-2)
    losses = []
    for _ in range(40):
        loss = imitation_loss(student, inputs, labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_a_teacher_is_refused_with_the_reason(tmp_path, capsys):
    from loihi_deploy.cli import main

    def refused(teacher) -> str:
        capsys.readouterr()
        assert main([*TINY[:-1], teacher, "--iterations", "1",
                     "--out", str(tmp_path / "run")]) == 2
        return capsys.readouterr().err

    assert "trained on task 'panda', this run is 'reach2d'" in refused("panda_gru")
    assert "neither a train-snn output folder nor a bundled" in refused("no_such_run")
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "metrics.json").write_text(json.dumps(
        {"config": {"model": "gru", "task": "reach2d", "hidden": 10 ** 9, "rank": 0,
                    "substeps": 7}}))                  # would allocate 10^18 weights
    assert "config has invalid hidden=1000000000" in refused(str(planted))
    (planted / "metrics.json").write_text(json.dumps(
        {"config": {"model": "gru", "task": [], "hidden": 8, "rank": 0, "substeps": 7}}))
    assert "config has invalid task=[]" in refused(str(planted))
    (planted / "metrics.json").write_text(json.dumps(
        {"config": {"model": "gru", "task": "reach2d", "hidden": 8, "rank": 0,
                    "substeps": 7, "input_change": "yes"}}))
    assert "config has invalid input_change='yes'" in refused(str(planted))
    (planted / "metrics.json").write_text(json.dumps(
        {"config": {"model": "gru", "task": "reach2d", "hidden": 8, "rank": 0,
                    "substeps": 7}}))
    (planted / "policy.pt").write_bytes(b"not torch")
    assert "policy.pt" in refused(str(planted))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["panda_snn", "reach2d_gru"])
def test_load_policy_rebuilds_bundled_runs(name):
    from loihi_deploy.training.snn.runs import load_policy
    policy, config = load_policy(name)
    assert config["model"] in name and sum(p.numel() for p in policy.parameters()) > 1000


def test_the_hosts_observation_change_is_what_training_computes_from_the_recording():
    """tasks.ObservationChange (deployment, step by step) and controller_inputs(...,
    input_change=True) (training, from recorded episodes) give a policy the same inputs."""
    from loihi_deploy.training.snn.tasks import ObservationChange, controller_inputs

    class Recorder:
        def __init__(self):
            self.inputs = []

        def reset(self):
            self.inputs.clear()

        def act(self, x):
            self.inputs.append(x.copy())
            return np.zeros((len(x), 2))

    recorder = Recorder()
    episodes = rollout(ObservationChange(recorder, 6), "reach2d", range(3), noise=0.5,
                       rng=np.random.default_rng(0))
    seen = np.stack(recorder.inputs, axis=1)
    assert seen.shape == (3, 200, 6 + 2 + 6)
    np.testing.assert_array_equal(seen, controller_inputs(episodes, input_change=True))
    assert not seen[:, 0, 8:].any() and seen[:, 1:, 8:].any()      # 0 at the first step
    np.testing.assert_array_equal(seen[:, 5, 8:], episodes["obs"][:, 5] - episodes["obs"][:, 4])
    # the wrapper reads the controller's attributes through, and copies like any object
    assert ObservationChange(recorder, 6).inputs is recorder.inputs
    copied = copy.deepcopy(ObservationChange(recorder, 6))
    assert copied.dims == 6 and copied.controller is not recorder
    assert len(copied.inputs) == len(recorder.inputs) == 200
    with pytest.raises(AttributeError):
        ObservationChange(recorder, 6).no_such_attribute


def test_an_input_change_policy_trains_by_imitation_and_by_predictive_control(tmp_path):
    from loihi_deploy.cli import main
    from loihi_deploy.training.snn.runs import load_policy
    imitating, predictive = tmp_path / "imitating", tmp_path / "predictive"
    assert main([*TINY, "--iterations", "1", "--out", str(imitating)]) == 0   # the default
    assert main([*TINY[:-2], "--input-change", "--iterations", "1", "--model-batches", "2",
                 "--horizon", "3", "--out", str(predictive)]) == 0
    for run in (imitating, predictive):
        policy, config = load_policy(run)
        assert config["input_change"] is True
        assert policy.layers[0].linear.in_features == 6 + 2 + 6
    from loihi_deploy.training.configs import SNNTrainConfig
    assert SNNTrainConfig(model="gru").input_change is False     # the GRU has its own memory
    without = tmp_path / "without"
    assert main([*TINY, "--no-input-change", "--iterations", "1", "--out", str(without)]) == 0
    policy, config = load_policy(without)
    assert config["input_change"] is False and policy.layers[0].linear.in_features == 6 + 2


def test_a_run_from_before_the_option_resumes_only_as_it_ran(tmp_path, capsys):
    """A run whose config predates input_change ran without it: continuing it with the new
    default is refused by name; with --no-input-change it continues."""
    from loihi_deploy.cli import main
    run = tmp_path / "run"
    assert main([*TINY, "--no-input-change", "--iterations", "1", "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["config"]["input_change"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    capsys.readouterr()
    assert main([*TINY, "--iterations", "2", "--out", str(run)]) == 2
    assert "input_change False -> True" in capsys.readouterr().err
    assert main([*TINY, "--no-input-change", "--iterations", "2", "--out", str(run)]) == 0
