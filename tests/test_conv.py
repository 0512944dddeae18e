"""Convolutional policies through the whole pipeline: IR, frontend, per-channel calibration,
quantisation, emulator, Lava (stock Conv processes), bundle, NIR, hardware mapping."""
import numpy as np
import pytest
import torch

from loihi_deploy.compiler.bundle import load_bundle, save_bundle
from loihi_deploy.compiler.calibrate import Calibration, thresholds_from_states
from loihi_deploy.compiler.convert import convert
from loihi_deploy.compiler.frontend import PolicyLoadError, from_sequential
from loihi_deploy.compiler.hardware import fan_out, map_graph, synapse_count
from loihi_deploy.compiler.ir import AnnGraph, Conv2d, Dense, MembranePolicy, NeuronModel
from loihi_deploy.compiler.quantize import ACC_MAX, quantize
from loihi_deploy.sim_backend.emulator import Emulator

IN_SHAPE = (3, 12, 12)


def _net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 6, 3, stride=1), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(6 * 3 * 3, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2), torch.nn.Tanh())


def _ann(seed=0) -> AnnGraph:
    return from_sequential(_net(seed), [-1, -2], [1, 2], input_shape=IN_SHAPE,
                           normalisation={"scale": 1 / 255, "offset": -0.5})


def _pixels(n, seed=1):
    return np.random.default_rng(seed).integers(0, 256, size=(n, int(np.prod(IN_SHAPE))))


def _graph(neuron="if", T=4, membrane=MembranePolicy("crpi", 0.5)):
    ann = _ann()
    states = _pixels(64)
    cal = Calibration(thresholds_from_states(ann, states), {"states": len(states)})
    graph = convert(ann, cal, T, membrane, "synthetic", NeuronModel.parse(neuron))
    return ann, quantize(graph, 255.0, integer_input_max=255)


def test_conv2d_matches_torch_and_validates():
    conv = Conv2d(np.random.default_rng(0).normal(size=(4, 3, 3, 3)), np.arange(4.0), IN_SHAPE,
                  stride=2)
    assert conv.out_shape == (4, 5, 5) and conv.shape == (100, 432) and conv.fan_in == 27
    x = np.random.default_rng(1).normal(size=(2, 432))
    ref = torch.nn.functional.conv2d(torch.tensor(x).reshape(2, *IN_SHAPE),
                                     torch.tensor(conv.weight), stride=2).reshape(2, -1)
    np.testing.assert_allclose(conv.apply(x), ref.numpy(), atol=1e-12)
    assert np.array_equal(conv.neuron_bias, np.repeat(np.arange(4.0), 25))
    with pytest.raises(ValueError, match="does not fit"):
        Conv2d(np.zeros((1, 3, 13, 13)), np.zeros(1), IN_SHAPE)
    with pytest.raises(ValueError, match="convolution after a dense"):
        AnnGraph((Dense(np.zeros((432, 4)), np.zeros(432)), conv), Dense(np.zeros((1, 100)),
                                                                         np.zeros(1)),
                 _ann().head.__class__.from_bounds([-1], [1]))


def test_frontend_folds_the_pixel_normalisation():
    net, ann = _net(), _ann()
    x = _pixels(5)
    ref = net(torch.tensor(x, dtype=torch.float64).reshape(5, *IN_SHAPE).float() / 255 - 0.5)
    expected = ref.detach().double().numpy() * np.array([1, 2])
    np.testing.assert_allclose(ann.forward(x), expected, atol=1e-5)
    assert [type(h).__name__ for h in ann.hidden] == ["Conv2d", "Conv2d", "Dense"]
    with pytest.raises(PolicyLoadError, match="input_shape"):
        from_sequential(net, [-1, -2], [1, 2])


def test_thresholds_are_per_channel():
    ann = _ann()
    thresholds = thresholds_from_states(ann, _pixels(40), chunk=7)
    conv = ann.hidden[0]
    per_channel = thresholds[0].reshape(conv.out_shape[0], -1)
    assert np.all(per_channel == per_channel[:, :1])
    activations = []
    ann.forward(_pixels(40).astype(float), activations)
    np.testing.assert_allclose(per_channel[:, 0],
                               activations[0].reshape(40, 4, -1).max(axis=(0, 2)))
    assert thresholds[2].shape == (16,)   # dense: one per neuron
    p99 = thresholds_from_states(ann, _pixels(40), "percentile", 99, chunk=7)[0]
    per_position = activations[0].reshape(40, 4, -1).transpose(1, 0, 2).reshape(4, -1)
    np.testing.assert_allclose(p99.reshape(4, -1)[:, 0], np.percentile(per_position, 99, axis=1),
                               rtol=1e-12)


def test_quantised_convolutions_cannot_reach_lavas_24_bit_clamp():
    _, graph = _graph("mt:4")
    assert graph.fixed.input_bits == 9 and np.all(graph.fixed.input_scale == 1)
    for k, (layer, q) in enumerate(zip(graph.hidden, graph.fixed.hidden)):
        if isinstance(layer.synapse, Conv2d):
            assert q.weight.shape == layer.synapse.weight.shape and -6 <= q.weight_exp <= 0
            x_max = 255 if k == 0 else graph.neuron.max_code
            assert np.abs(q.weight).reshape(q.weight.shape[0], -1).sum(axis=1).max() \
                * x_max <= ACC_MAX


@pytest.mark.parametrize("profile", ["float", "fixed"])
def test_emulator_follows_the_ann_at_high_T(profile):
    ann, graph = _graph("if", T=256)
    obs = _pixels(6, seed=5)
    actions = Emulator(graph.replace(membrane=MembranePolicy()), 6, profile=profile).act(obs)
    np.testing.assert_allclose(actions, ann.forward(obs), atol=0.15)


def test_bundle_round_trip(tmp_path):
    _, graph = _graph("dc:4", T=2)
    loaded = load_bundle(save_bundle(graph, tmp_path / "conv.h5"))
    assert isinstance(loaded.hidden[0].synapse, Conv2d)
    assert loaded.hidden[1].synapse.stride == 1 and loaded.hidden[0].synapse.stride == 2
    obs = _pixels(3)
    for profile in ("float", "fixed"):
        np.testing.assert_array_equal(Emulator(loaded, 3, profile=profile).act(obs),
                                      Emulator(graph, 3, profile=profile).act(obs))


def test_mapping_counts_expanded_synapses():
    _, graph = _graph()
    conv = graph.hidden[0].synapse
    assert synapse_count(conv) == conv.shape[0] * conv.fan_in
    assert fan_out(conv).sum() == synapse_count(conv)     # every connection counted once
    assert fan_out(conv).max() > fan_out(conv).min()      # borders have fewer
    layers = map_graph(graph, "Loihi 2").layers
    assert [layer.fan_in for layer in layers[:2]] == [27, 36]


def test_nir_export_has_conv_and_flatten(tmp_path):
    import nir
    from loihi_deploy.compiler.export_nir import export_nir
    _, graph = _graph()
    read = nir.read(str(export_nir(graph.replace(fixed=None), tmp_path / "conv.nir")))
    kinds = {name: type(node).__name__ for name, node in read.nodes.items()}
    assert kinds["affine0"] == kinds["affine1"] == "Conv2d" and kinds["flatten2"] == "Flatten"
    conv = graph.hidden[0]   # thresholds normalised to 1: weights divided per out channel
    theta_c = conv.threshold.reshape(conv.synapse.out_shape)[:, 0, 0]
    np.testing.assert_allclose(read.nodes["affine0"].weight * theta_c[:, None, None, None],
                               conv.synapse.weight)
    assert kinds["lif0"] == "CubaLIF" and np.all(read.nodes["lif0"].v_threshold == 1)


@pytest.mark.lava
@pytest.mark.parametrize("neuron,T", [("if", 4), ("snm", 3), ("mt:4", 2), ("dc:4", 2)])
def test_lava_conv_processes_are_bit_exact_in_fixed_point(neuron, T):
    """Stock Lava Conv (its (W, H, C) layout and kernel flip handled by the emitter) feeding
    loihi-deploy's neuron layers: the same actions as the emulator, decision for decision."""
    from loihi_deploy.runtime.lava_bridge import LavaController
    _, graph = _graph(neuron, T)
    assert graph.fixed.hidden[0].weight_exp < 0    # the neuron applies the conv's exponent
    observations = _pixels(8, seed=9)
    emulator = Emulator(graph, 1, profile="fixed")
    with LavaController(graph, "fixed") as lava:
        for obs in observations:
            np.testing.assert_array_equal(lava.act(obs[None]), emulator.act(obs[None]))
    assert np.abs(emulator.v0[0]).sum() > 0   # CRPI carried potential across decisions
