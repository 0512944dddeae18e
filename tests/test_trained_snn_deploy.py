"""Deploying a directly trained SNN: adaptive LIF dynamics by hand, frontend equivalence with
the torch network, fixed point, Lava bit-exactness, the deploy-snn command."""
import json
import shutil

import numpy as np
import pytest
import torch

from loihi_deploy.compiler.frontend import PolicyLoadError, from_trained_snn, load_trained_snn
from loihi_deploy.compiler.quantize import quantize_trained
from loihi_deploy.training.snn.layers import SpikingNetwork
from loihi_deploy.sim_backend import neurons
from loihi_deploy.sim_backend.emulator import TrainedEmulator


def _params(**overrides):
    values = dict(bias=np.array([0.0]), syn_decay=np.array([0.5]), mem_decay=np.array([0.75]),
                  ada_decay=np.array([0.5]), b_rest=np.array([1.0]), b_step=np.array([0.25]),
                  a_jump=np.array([0.5]))
    values.update(overrides)
    return neurons.AlifParams(**values)


def test_alif_step_by_hand_float():
    p = _params()
    st = neurons.alif_start(p, 1)
    st, _ = neurons.alif_step(st, np.array([[2.0]]), p)
    # syn = 2; mem = 0 + 2 = 2 > vth 1 -> spike; b = 1 - 0.25; a = 0.5
    assert (st.syn[0, 0], st.mem[0, 0], st.s[0, 0], st.b[0, 0], st.a[0, 0]) == (2, 2, 1, .75, .5)
    st, _ = neurons.alif_step(st, np.array([[0.0]]), p)
    # vth = 0.75 + 0.5; syn = 1; mem = 0.75 * 2 + 1 - 1.25 = 1.25, not > 1.25 -> no spike
    assert (st.syn[0, 0], st.mem[0, 0], st.s[0, 0]) == (1.0, 1.25, 0)
    assert (st.b[0, 0], st.a[0, 0]) == (0.5, 0.25)


def test_alif_step_fixed_point_decays_round_toward_zero():
    p = _params(bias=np.array([0]), syn_decay=np.array([2048]),
                mem_decay=np.array([3072]), ada_decay=np.array([2048]), b_rest=np.array([640]),
                b_step=np.array([64]), a_jump=np.array([64]))
    st = neurons.AlifState(*(np.array([[v]]) for v in (-3, -5, 640, 3, 0)))
    st, saturated = neurons.alif_step(st, np.array([[1]]), p, neurons.FIXED)
    # syn = -(3 * 2048 >> 12) + (1 << 6) = -1 + 64; mem = -(5 * 3072 >> 12) + 63 = -3 + 63
    assert st.syn[0, 0] == 63 and st.mem[0, 0] == 60 and st.s[0, 0] == 0
    assert st.b[0, 0] == 576 and st.a[0, 0] == 1 and np.all(saturated == 0)


def _spiking_network(n_in=5, n_out=2, seed=0) -> SpikingNetwork:
    torch.manual_seed(seed)
    net = SpikingNetwork(n_in, n_out, hidden=24, layers=2, substeps=7, rank=6, output="tanh")
    with torch.no_grad():   # livelier than the quiet initialisation, so spikes happen
        net.input_scale.fill_(3.0)
        for layer in net.layers:
            layer.linear.weight.mul_(4.0)
            layer.tau_mem.log_tau.add_(torch.randn(layer.n) * 0.3)
        net.readout.linear.weight.mul_(5.0)
    rng = np.random.default_rng(seed)     # input standardisation, folded by the frontend
    net.fit_input(rng.normal(rng.uniform(-0.5, 0.5, n_in), rng.uniform(0.5, 1.5, n_in),
                             (100, n_in)))
    return net


def _state(net) -> dict:
    return {k: v.detach().double().numpy() for k, v in net.state_dict().items()}


def test_frontend_float_emulator_matches_the_torch_network():
    net = _spiking_network()
    graph = from_trained_snn(_state(net), 7)
    assert graph.obs_dim == 5 and graph.act_dim == 2 and graph.layers[1].synapse.shape == (24, 24)
    x = np.random.default_rng(0).uniform(-1, 1, (30, 4, 5))
    emulator = TrainedEmulator(graph, 4, "float")
    net.reset(4)
    with torch.no_grad():
        for t in range(30):
            expected = net(torch.tensor(x[t], dtype=torch.float32)).numpy()
            np.testing.assert_allclose(emulator.act(x[t]), expected, atol=1e-4)
    assert all(c.sum() > 0 for c in emulator.spike_counts)   # the comparison saw spikes


@pytest.mark.parametrize("weight_bits", [16, 8])
def test_fixed_point_profile_is_close_and_lava_is_bit_exact(weight_bits):
    pytest.importorskip("lava")
    from loihi_deploy.compiler.ir import parts_as_one
    from loihi_deploy.runtime.lava_bridge import LavaController
    graph = quantize_trained(from_trained_snn(_state(_spiking_network()), 7), np.ones(5),
                             weight_bits=weight_bits)
    fixed = graph.fixed
    for q in (*fixed.layers, fixed.readout):   # the weights use their range: 8-bit >= 128
        assert len(q.dense_parts) == weight_bits // 8    # levels, split ones >= 512 (layer 0
        peak = np.abs(parts_as_one(q.dense_parts)[0]).max()   # trades levels for payload bits)
        assert peak >= (512 if weight_bits == 16 else 128), peak
    assert all(np.all((m > 0) & (m < 4096)) for decays in fixed.decays for m in decays)
    x = np.random.default_rng(1).uniform(-1, 1, (2, 8, 1, 5))
    emulator = TrainedEmulator(graph, 1, "fixed")
    float_emulator = TrainedEmulator(graph, 1, "float")
    errors = []
    with LavaController(graph, "fixed") as lava:
        for episode in x:                       # two episodes: reset must clear every state
            emulator.reset()
            lava.reset()
            float_emulator.reset()
            for step in episode:
                expected = emulator.act(step)
                np.testing.assert_array_equal(lava.act(step), expected)
                errors.append(np.abs(expected - float_emulator.act(step)).max())
        assert lava.fixed_point_events() == (0, 0)
    assert np.mean(errors) < 0.25    # follows float (chaotic SNN; here 0.05 16-bit, 0.09 8-bit)


def test_load_trained_snn_refuses_gru_runs_and_missing_files(tmp_path):
    with pytest.raises(PolicyLoadError, match="no policy.pt"):
        load_trained_snn(tmp_path)
    (tmp_path / "policy.pt").write_bytes(b"")
    (tmp_path / "metrics.json").write_text(json.dumps({"config": {"model": "gru"}}))
    with pytest.raises(PolicyLoadError, match="not spiking"):
        load_trained_snn(tmp_path)
    from loihi_deploy.training.snn.runs import BUNDLED
    (tmp_path / "policy.pt").write_bytes((BUNDLED / "panda_snn" / "policy.pt").read_bytes())
    metrics = json.loads((BUNDLED / "panda_snn" / "metrics.json").read_text())
    metrics["config"]["substeps"] = 10 ** 9          # would run 10^9 substeps per env step
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(PolicyLoadError, match=r"metrics.json: config has invalid "
                                              r"substeps=1000000000 \(an integer in \[1, 64\]"):
        load_trained_snn(tmp_path)
    metrics["config"].update(substeps=7, task=[])      # unhashable: refused, no TypeError
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    from loihi_deploy.deploy_snn import deploy_trained
    with pytest.raises(ValueError, match=r"config has invalid task=\[\]"):
        deploy_trained(tmp_path, progress=False)


def test_deploy_snn_command_end_to_end(tmp_path, capsys):
    from loihi_deploy.cli import main
    run = tmp_path / "run"
    assert main(["train-snn", "--model", "snn", "--forward-model", "gru", "--iterations", "1",
                 "--hidden", "16", "--batch", "4", "--model-batches", "1", "--policy-batches",
                 "1", "--horizon", "3", "--output-scale", "first", "--kernels", "fused",
                 "--out", str(run)]) == 0
    result = json.loads((run / "metrics.json").read_text())
    assert result["config"]["output_scale"] == "first" and result["complete"]
    # the forward model is a GRU (training only), the policy spiking
    import torch
    assert "net.cell.weight_ih" in torch.load(run / "model.pt", weights_only=True)
    assert "layers.0.linear.weight" in torch.load(run / "policy.pt", weights_only=True)
    assert result["evaluation"]["episodes"] == 50 and \
        len(result["evaluation"]["cumulative_distance_per_episode"]) == 50
    out = tmp_path / "deploy.json"
    assert main(["deploy-snn", str(run), "--episodes", "2", "--lava-episodes", "1",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "emulator fixed" in text and "actions identical: True" in text
    assert "equal to the emulator's on these episodes: True" in text
    report = json.loads(out.read_text())
    assert set(report["rows"]) == {"torch", "emulator float", "emulator fixed", "lava fixed"}
    assert report["fidelity"]["torch_float64_vs_float_emulator_max_abs_diff"] < 1e-9
    torch_row, float_row = report["rows"]["torch"], report["rows"]["emulator float"]
    assert all(torch_row[k] == pytest.approx(float_row[k], rel=1e-3) for k in torch_row)


def _bundled_runs():
    from loihi_deploy.training.snn.runs import bundled_trained_runs
    return bundled_trained_runs()


def _recorded(name) -> tuple[dict, list | float]:
    """A bundled run's metrics and its recorded evaluation: the per-episode cumulative
    distances of its final evaluation, or (older runs) the last iteration's mean."""
    from loihi_deploy.training.snn.runs import resolve_run
    result = json.loads((resolve_run(name) / "metrics.json").read_text())
    if "evaluation" in result:
        return result, result["evaluation"]["cumulative_distance_per_episode"]
    return result, result["final"]["cumulative_distance"]


@pytest.mark.parametrize("name", _bundled_runs())
def test_bundled_run_replays_its_recorded_evaluation(name):
    """Every bundled train-snn run (spiking and GRU) rebuilt from its config and weights
    replays its recorded evaluation on the same seeds, statistically (torch kernels differ
    between CPUs: docs/reproducibility.md)."""
    from loihi_deploy.stats import replay_agrees
    from loihi_deploy.training.snn.predictive import policy_controller, rollout
    from loihi_deploy.training.snn.runs import load_policy
    _, recorded = _recorded(name)
    policy, config = load_policy(name)
    task = config["task"]
    episodes = len(recorded) if isinstance(recorded, list) else 20
    data = rollout(policy_controller(policy, episodes, task, config["input_change"]), task,
                   range(10_000, 10_000 + episodes))
    check = replay_agrees(data["distance"].sum(axis=1), recorded)
    assert check.agrees, f"{name}: {check.summary()}"


@pytest.mark.parametrize("name", [n for n in _bundled_runs() if n.endswith("_snn")])
def test_bundled_trained_snn_deploys_float_fixed_and_on_lava(name):
    """The bundled spiking run through the compiler: the float emulator replays the recorded
    evaluation statistically; one episode on Lava fixed_pt equals the emulator's."""
    pytest.importorskip("lava")
    from loihi_deploy.deploy_snn import deploy_trained
    from loihi_deploy.stats import replay_agrees
    _, recorded = _recorded(name)
    episodes = len(recorded) if isinstance(recorded, list) else 20
    report = deploy_trained(name, episodes=episodes, lava_episodes=1, progress=False)
    check = replay_agrees(report["rows"]["emulator float"]["cumulative_distance_per_episode"],
                          recorded)
    assert check.agrees, f"{name} emulator float: {check.summary()}"
    assert report["fidelity"]["torch_float64_vs_float_emulator_max_abs_diff"] < 1e-9
    assert report["lava"]["actions_identical"] and report["lava"]["saturations_identical"]


def test_deploy_snn_names_a_missing_run(tmp_path, capsys):
    from loihi_deploy.cli import main
    assert main(["deploy-snn", str(tmp_path / "nowhere")]) != 0
    err = capsys.readouterr().err
    assert "nowhere" in err and "bundled trained run" in err and "Traceback" not in err


def test_lava_float_profile_matches_the_float_emulator():
    pytest.importorskip("lava")
    from loihi_deploy.runtime.lava_bridge import LavaController
    graph = from_trained_snn(_state(_spiking_network()), 7)
    x = np.random.default_rng(2).uniform(-1, 1, (6, 1, 5))
    emulator = TrainedEmulator(graph, 1, "float")
    with LavaController(graph, "float") as lava:
        lava.reset()
        for step in x:
            np.testing.assert_allclose(lava.act(step), emulator.act(step), atol=1e-9)


@pytest.mark.parametrize("edit, said", [
    (lambda s: s.pop("input_mean"), "holds only one of input_mean and input_std"),
    (lambda s: s["input_std"].__setitem__(0, 0.0), "input_std must be > 0, got 0"),
    (lambda s: s["readout.tau.log_tau"].__setitem__(0, float("nan")),
     "readout.tau.log_tau holds NaN or Inf"),
])
def test_a_damaged_policy_is_refused_naming_the_tensor(tmp_path, edit, said):
    """The compiled network must be the one torch runs: input_std without input_mean was
    deployed as a different network (torch used the std, the chip did not)."""
    from loihi_deploy.training.snn.runs import BUNDLED
    shutil.copytree(BUNDLED / "reach2d_snn", tmp_path / "run")
    state = torch.load(tmp_path / "run" / "policy.pt", weights_only=True)
    edit(state)
    torch.save(state, tmp_path / "run" / "policy.pt")
    with pytest.raises(PolicyLoadError, match=said):
        load_trained_snn(tmp_path / "run")


@pytest.mark.parametrize("tensor", ["layers.0.linear.weight", "readout.linear.weight"])
def test_a_weight_fixed_point_cannot_hold_is_refused_not_rounded_away(tmp_path, tensor):
    """One weight of 1e38 set its neuron's scale so low that its threshold and every other
    weight of the row rounded to 0, and the run reported no saturation."""
    from loihi_deploy.training.snn.runs import BUNDLED
    shutil.copytree(BUNDLED / "reach2d_snn", tmp_path / "run")
    state = torch.load(tmp_path / "run" / "policy.pt", weights_only=True)
    state[tensor][0, 0] = 1e38
    torch.save(state, tmp_path / "run" / "policy.pt")
    graph = load_trained_snn(tmp_path / "run")
    for bits in (8, 16):
        with pytest.raises(ValueError, match="neuron 0: .* its threshold rounds to 0"):
            quantize_trained(graph, 1.0, weight_bits=bits)
