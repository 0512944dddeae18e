"""Directly trained spiking controllers: layer dynamics, the task, the training loop."""
import json

import numpy as np
import pytest
import torch

from loihi_deploy.training.snn import layers
from loihi_deploy.training.snn.tasks import Reach2D, hand_position


def test_spike_forward_is_heaviside_and_surrogate_peaks_at_threshold():
    x = torch.tensor([-0.5, -1e-3, 0.0, 1e-3, 0.5], requires_grad=True)
    s = layers.spike(x)
    assert s.tolist() == [0, 0, 0, 1, 1]
    s.sum().backward()
    grad = x.grad
    # at 0: (1 + h) minus the two wide Gaussians' share, 2 h exp(-1/2) / s
    h, wide = layers.SURROGATE_H, layers.SURROGATE_S
    peak = (1 + h) - 2 * h * np.exp(-0.5) / wide
    assert grad[2] == grad.max() and abs(float(grad[2]) - peak) < 1e-4
    assert grad[0] < 0 < grad[1]          # the multi-Gaussian's negative side lobes


def test_surrogate_is_the_full_multi_gaussian_down_to_its_cut_off():
    """The cut-off only zeroes Gaussians below exp(-GAUSS_CUTOFF) of their peak (~1e-26)."""
    x = torch.linspace(-40, 40, 200_001, dtype=torch.float64)
    s, h, wide = layers.SURROGATE_SIGMA, layers.SURROGATE_H, layers.SURROGATE_S
    gauss = lambda u: torch.exp(-0.5 * u ** 2)           # noqa: E731
    full = (1 + h) * gauss(x / s) - h / wide * (gauss((x - wide * s) / (wide * s))
                                                + gauss((x + wide * s) / (wide * s)))
    cut = layers.surrogate_derivative(x)
    torch.testing.assert_close(cut, full, rtol=1e-12, atol=2 * np.exp(-layers.GAUSS_CUTOFF))
    assert bool(((cut == 0) & (full != 0)).any())       # it does cut somewhere


def test_alif_layer_by_hand_one_substep():
    layer = layers.ALIFLayer(1, 1, input_rate=1.0)
    with torch.no_grad():
        layer.linear.weight.fill_(1.0)
        layer.linear.bias.zero_()
    state = layer.initial_state(1)
    with torch.no_grad():
        s, (syn, mem, b, n, _) = layer(torch.tensor([[100.0]]), state)
    beta_mem = np.exp(-layers.DT / layers.TAU_MEM)
    # syn = 100; mem = (1 - beta_mem) * 100 = 18.1 > vth 1 -> spike; b back to 1; n grows
    assert float(syn) == 100.0 and abs(float(mem) - (1 - beta_mem) * 100) < 1e-4
    assert float(s) == 1.0 and float(n) > 0
    assert abs(float(b) - (1 - layers.THRESHOLD_DECAY * layers.DT)) < 1e-6   # reset, then decay
    # next substep subtracts the threshold vth = b + xi n (reset by subtraction)
    with torch.no_grad():
        s2, (_, mem2, _, _, _) = layer(torch.tensor([[0.0]]), (syn, mem, b, n, s))
    expected = beta_mem * float(mem) + (1 - beta_mem) * np.exp(-layers.DT / layers.TAU_SYN) \
        * 100 - (float(b) + layers.ADAPTATION_XI * float(n))
    assert abs(float(mem2) - expected) < 1e-3


def test_reach2d_kinematics_and_reachable_targets():
    env = Reach2D()
    obs, info = env.reset(seed=3)
    np.testing.assert_allclose(obs[:2], hand_position(env.q))
    assert np.linalg.norm(info["target"]) <= sum((0.5, 0.4)) + 1e-9
    obs2, reward, terminated, truncated, info2 = env.step(np.zeros(2))
    np.testing.assert_allclose(obs2, obs)          # at rest, no acceleration: no motion
    assert reward == -info2["distance"] and not terminated and not truncated


def test_train_snn_command_writes_metrics_and_learns_the_model(tmp_path):
    from loihi_deploy.cli import main
    assert main(["train-snn", "--model", "snn", "--forward-model", "snn", "--iterations", "2",
                 "--hidden", "32", "--batch", "8", "--model-batches", "5", "--horizon", "5",
                 "--kernels", "fused", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "metrics.json").read_text())
    assert result["parameters"]["policy"] > 0 and len(result["history"]) == 2
    final = result["final"]
    # prediction MSE in units of the state changes' own variance: below 1 = it learned
    assert 0 <= final["success_rate"] <= 1 and final["prediction_mse"] < 1.0
    assert (tmp_path / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "policy.pt").exists()


def test_panda_task_layout_torques_and_reachable_targets():
    from loihi_deploy.training.snn.tasks import PandaReach, make_task
    env = make_task("panda")
    obs, info = env.reset(seed=5)
    assert obs.shape == (PandaReach.obs_dim,) and env.model.nu == 6 and env.model.nq == 6
    np.testing.assert_allclose(obs[:3], env.data.site_xpos[env.model.site("end_effector").id])
    np.testing.assert_allclose(env.model.actuator_gear[:, 0], [87, 87, 87, 87, 12, 12])
    low, high = env.model.jnt_range.T
    assert np.all(obs[3:] >= low) and np.all(obs[3:] <= high)
    # zero torque: gravity is compensated, so the arm stays where it starts
    for _ in range(10):
        obs2, reward, terminated, truncated, info2 = env.step(np.zeros(6))
    np.testing.assert_allclose(obs2, obs, atol=1e-6)
    assert reward == -info2["distance"] and not terminated and not truncated
    # full torque on joint 1 turns the arm about the vertical axis
    obs3, *_ = env.step(np.array([1.0, 0, 0, 0, 0, 0]))
    assert obs3[3] > obs2[3]
    # targets are forward kinematics of in-range joint angles (reachable)
    assert 0.1 < np.linalg.norm(info["target"]) < 1.2


@pytest.fixture(params=["fused", "compiled"])
def kernels(request):
    """The substep kernels run op by op (fused) or torch.compile'd; restored afterwards."""
    compiled = layers.compile_kernels(request.param == "compiled")
    if request.param == "compiled" and not compiled:
        pytest.skip("torch.compile is unavailable here (no C++ compiler)")
    yield request.param
    layers.compile_kernels(False)


def test_fused_substeps_match_the_per_substep_definition_in_values_and_gradients(kernels):
    """ALIFSubsteps' hand-written backward (op by op and compiled) against autograd through
    every substep (float64, lively weights so that spikes, resets and adaptation happen)."""
    torch.manual_seed(0)
    nets = [layers.SpikingNetwork(5, 3, hidden=16, substeps=7, rank=4, output="tanh",
                                  fused=fused).double() for fused in (False, True)]
    with torch.no_grad():
        nets[0].input_scale.fill_(3.0)
        for layer in nets[0].layers:
            layer.linear.weight.mul_(4.0)
            for tau in (layer.tau_mem, layer.tau_syn, layer.tau_ada):
                tau.log_tau.add_(torch.randn(layer.n, dtype=torch.float64) * 0.3)
        nets[0].readout.linear.weight.mul_(5.0)
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.randn(12, 4, 5, dtype=torch.float64)
    weights = torch.randn(12, 4, 3, dtype=torch.float64)
    outputs, grads = [], []
    for net in nets:
        net.reset(4)
        out = torch.stack([net(x[t]) for t in range(12)])
        (out * weights).sum().backward()
        outputs.append(out.detach())
        grads.append({name: p.grad.clone() for name, p in net.named_parameters()})
    torch.testing.assert_close(outputs[1], outputs[0], rtol=0, atol=1e-12)
    assert {k: v.abs().sum() > 0 for k, v in grads[0].items()} == \
        {k: True for k in grads[0]}          # every parameter gets a gradient
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-9, atol=1e-12,
                                   msg=name)
    spikes = nets[1].state[0][0][4]
    assert 0 < float(spikes.detach().mean()) < 1      # the comparison saw spikes and silence


@pytest.mark.parametrize("loss", ["distance", "squared"])
def test_policy_loss_is_the_distance_or_its_square_plus_the_output_bound_penalty(loss):
    """A forward model that predicts no change keeps the imagined hand where it is: the loss
    is exactly its distance to the target (or the square), plus the penalty on a policy
    output held at 5 before tanh: weight x (5 - 3)^2."""
    from loihi_deploy.training.snn.predictive import ForwardModel, policy_loss
    model = ForwardModel(layers.GRUNetwork(4, 2, hidden=8), obs_dim=2)
    policy = layers.GRUNetwork(4, 2, hidden=8, output="tanh")
    with torch.no_grad():
        for head, bias in ((model.net.head, 0.0), (policy.head, 5.0)):
            head.weight.zero_()
            head.bias.fill_(bias)
    obs = torch.tensor([[[0.3, 0.4]] * 4, [[0.0, 0.0]] * 4])      # hand 0.5 m and 0 m away
    act = torch.zeros(2, 3, 2)
    target = torch.zeros(2, 2)
    distance = torch.tensor([0.5, 0.0])
    expected = float((distance ** 2).mean() if loss == "squared" else (distance ** 2 + 1e-6).sqrt().mean())
    for weight in (0.0, 0.01):
        value = policy_loss(policy, model, obs, act, target, warmup=1, horizon=2, loss=loss,
                            bound_weight=weight)
        assert float(value.detach()) == pytest.approx(expected + weight * 4.0, rel=1e-6)
    value.backward()        # into the policy only: the model is frozen, then unfrozen
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert any(p.grad is not None for p in policy.parameters())


TINY = ["train-snn", "--model", "snn", "--hidden", "16", "--rank", "4", "--batch", "4",
        "--model-batches", "2", "--policy-batches", "2", "--horizon", "3", "--episodes", "2",
        "--kernels", "fused", "--threads", "1"]


def _weights(path):
    return torch.load(path, weights_only=True)


def test_resumed_run_gives_the_uninterrupted_runs_numbers(tmp_path):
    from loihi_deploy.cli import main
    straight, split = tmp_path / "straight", tmp_path / "split"
    args = [*TINY, "--lr-schedule", "constant"]   # cosine's schedule follows --iterations
    assert main([*args, "--iterations", "3", "--out", str(straight)]) == 0
    assert main([*args, "--iterations", "2", "--out", str(split)]) == 0
    assert main([*args, "--iterations", "3", "--out", str(split)]) == 0   # continues: 2 -> 3
    assert _numbers_of(straight) == _numbers_of(split)
    for name in ("policy.pt", "model.pt"):
        pa, pb = _weights(straight / name), _weights(split / name)
        assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert len(list((split / "episodes").glob("*.npz"))) == 3
    # finished: running it again trains nothing and leaves the files alone
    files = _contents(split)
    assert main([*args, "--iterations", "3", "--out", str(split)]) == 0
    assert _contents(split) == files


def _numbers_of(run) -> tuple:
    """A run folder's per-iteration metrics (wall time left out) and final evaluation. The
    runs compared with it are made by the same test in this process, so they are equal to
    the bit on any machine: no number recorded elsewhere is involved."""
    result = json.loads((run / "metrics.json").read_text())
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in result["history"]]
    return rows, result["evaluation"]


def _contents(folder) -> dict:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_resume_refuses_other_settings_and_hostile_checkpoints(tmp_path, capsys):
    from loihi_deploy.cli import main
    run = tmp_path / "run"
    assert main([*TINY, "--iterations", "1", "--out", str(run)]) == 0

    def refused(*extra) -> str:
        capsys.readouterr()
        assert main([*TINY, "--iterations", "2", "--out", str(run), *extra]) == 2
        return capsys.readouterr().err

    assert "other settings (hidden 16 -> 32)" in refused("--hidden", "32")
    saved = (run / "checkpoint.pt").read_bytes()
    import io
    import pickle

    class Payload:   # a pickle that would run code when loaded
        def __reduce__(self):
            return (print, ("pwned",))
    (run / "checkpoint.pt").write_bytes(pickle.dumps(Payload(), protocol=2))
    assert "checkpoint.pt: refused" in refused()
    state = torch.load(io.BytesIO(saved), weights_only=True)
    first = next(iter(state["policy_optimizer"]["state"]))
    state["policy_optimizer"]["state"][first]["exp_avg"] = torch.zeros(3)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    (run / "checkpoint.pt").write_bytes(buffer.getvalue())
    assert "does not fit this run's networks" in refused()
    (run / "checkpoint.pt").write_bytes(saved)
    episodes = run / "episodes" / "00000.npz"
    np.savez(episodes.open("wb"), obs=np.zeros((2, 5, 9)), act=np.zeros((2, 4, 6)),
             target=np.zeros((2, 3)))
    assert "00000.npz: obs is (2, 5, 9) float64, expected (2, 201, 6)" in refused()
    np.savez_compressed(episodes.open("wb"), obs=np.zeros((2, 20_100, 9)),   # 2.9 MB of zeros
                        act=np.zeros((2, 200, 6)), target=np.zeros((2, 3)))  # in a few KB
    assert "00000.npz: obs.npy declares shape (2, 20100, 9), more than the 3216 elements" \
        in refused()
    episodes.write_bytes(b"not a zip")
    assert "00000.npz: corrupt .npz file" in refused()
    (run / "checkpoint.pt").unlink()
    assert "without checkpoint.pt" in refused()
    assert not list(run.glob(".*.tmp"))


def test_policy_lr_sets_the_policy_optimiser_and_a_run_predating_it_still_resumes(tmp_path,
                                                                                  capsys):
    """--policy-lr is the policy's base learning rate (its time constants at 10x it); the
    forward model keeps 1e-3. A run saved before a setting existed resumes with that
    setting at its default, and is refused with any other value."""
    from loihi_deploy.cli import main
    run = tmp_path / "run"
    assert main([*TINY, "--iterations", "1", "--policy-lr", "3e-4", "--out", str(run)]) == 0
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert [g["base_lr"] for g in state["policy_optimizer"]["param_groups"]] == \
        pytest.approx([3e-4, 3e-3])
    assert [g["base_lr"] for g in state["model_optimizer"]["param_groups"]] == [1e-3]
    old = tmp_path / "old"
    assert main([*TINY, "--iterations", "1", "--out", str(old)]) == 0
    metrics = json.loads((old / "metrics.json").read_text())
    del metrics["config"]["policy_lr"]             # as written before the option existed
    (old / "metrics.json").write_text(json.dumps(metrics))
    capsys.readouterr()
    assert main([*TINY, "--iterations", "2", "--policy-lr", "3e-4", "--out", str(old)]) == 2
    assert "other settings (policy_lr 0.001 -> 0.0003)" in capsys.readouterr().err
    assert main([*TINY, "--iterations", "2", "--out", str(old)]) == 0
    assert len(json.loads((old / "metrics.json").read_text())["history"]) == 2


def test_cosine_schedule_runs_from_the_initial_learning_rate_to_a_tenth():
    from loihi_deploy.training.snn.predictive import learning_rate_scale
    scales = [learning_rate_scale("cosine", i, 5) for i in range(5)]
    assert scales[0] == 1.0 and abs(scales[-1] - 0.1) < 1e-12 and abs(scales[2] - 0.55) < 1e-12
    assert all(a > b for a, b in zip(scales, scales[1:]))
    assert learning_rate_scale("constant", 3, 5) == 1.0


def test_a_run_stopped_midway_continues_on_the_same_schedule(tmp_path, monkeypatch):
    from loihi_deploy.cli import main
    from loihi_deploy.training.snn import predictive
    args = [*TINY, "--model", "gru", "--lr-schedule", "cosine", "--iterations", "3"]
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0
    evaluate, calls = predictive.evaluate, []

    def stopped_in_the_second_iteration(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return evaluate(*a, **k)
    monkeypatch.setattr(predictive, "evaluate", stopped_in_the_second_iteration)
    with pytest.raises(KeyboardInterrupt):
        predictive.train_snn(_config(args, tmp_path / "stopped"))
    monkeypatch.setattr(predictive, "evaluate", evaluate)
    assert main([*args, "--out", str(tmp_path / "stopped")]) == 0
    a, b = (_weights(tmp_path / d / "policy.pt") for d in ("straight", "stopped"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def _config(args, out):
    import argparse
    from loihi_deploy.options import add_options, config_from_args
    from loihi_deploy.training.configs import SNNTrainConfig
    parser = argparse.ArgumentParser()
    add_options(parser, SNNTrainConfig)
    return config_from_args(SNNTrainConfig, parser.parse_args([*args[1:], "--out", str(out)]))
