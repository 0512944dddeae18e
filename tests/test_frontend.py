"""Frontends: paper actors, SB3 zips, nn.Sequential; refusal of code-carrying pickles."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from loihi_deploy.compiler.frontend import PolicyLoadError, from_sequential
from loihi_deploy.api import load_ann


NO_CONTACT = {"include_cfrc_ext_in_observation": False}


@pytest.mark.parametrize("name,env,kwargs,kind", [
    ("TD3_Hopper-v4_actor.pt", "Hopper-v4", None, "paper-td3"),
    ("SAC_Hopper-v4_actor.pt", "Hopper-v4", None, "paper-sac"),
    ("TD3_Ant-v4_actor.pt", "Ant-v5", NO_CONTACT, "paper-td3")])   # Ant-v4's 27 observations
def test_paper_actor_matches_its_torch_definition(reference_actor, name, env, kwargs, kind):
    path = reference_actor(name)
    graph = load_ann(path, env, kwargs)
    assert graph.source["kind"] == kind and len(graph.source["sha256"]) == 64
    state = torch.load(path, map_location="cpu", weights_only=True)
    keys = ("l1", "l2", "l3") if kind == "paper-td3" else ("fc1", "fc2", "fc_mu")
    obs = torch.randn(8, graph.obs_dim, generator=torch.Generator().manual_seed(0),
                      dtype=torch.float64)
    x = obs
    for i, k in enumerate(keys):  # the paper's forward pass, in float64 like the graph
        x = x @ state[f"{k}.weight"].double().T + state[f"{k}.bias"].double()
        x = torch.relu(x) if i < 2 else torch.tanh(x)  # max_action is 1.0 for these tasks
    np.testing.assert_allclose(graph.forward(obs.numpy()), x.numpy(), atol=1e-12)


def test_paper_actor_wrong_env_names_both_sizes(reference_actor):
    with pytest.raises(PolicyLoadError, match="11 observations to 3 actions but Walker2d-v4 has "
                                              "17 observations and 6 actions"):
        load_ann(reference_actor("TD3_Hopper-v4_actor.pt"), "Walker2d-v4")


@pytest.mark.parametrize("algo", ["TD3", "SAC"])
def test_sb3_zip_actor_matches_sb3_predict(tmp_path, algo):
    import stable_baselines3 as sb3
    from loihi_deploy.runtime.envs import make_env
    env = make_env("InvertedPendulum-v5")  # action bounds [-3, 3]: exercises the head scale
    model = getattr(sb3, algo)("MlpPolicy", env, policy_kwargs={"net_arch": [32, 32]}, seed=0,
                               device="cpu")
    model.save(tmp_path / "model.zip")
    graph = load_ann(tmp_path / "model.zip", "InvertedPendulum-v5")
    assert graph.source["kind"] == f"sb3-{algo.lower()}"
    obs = np.stack([env.observation_space.sample() for _ in range(16)])
    want, _ = model.predict(obs, deterministic=True)
    np.testing.assert_allclose(graph.forward(obs), want, atol=1e-5)


def test_sb3_zip_with_tanh_activation_is_refused(tmp_path):
    import stable_baselines3 as sb3
    from loihi_deploy.runtime.envs import make_env
    model = sb3.TD3("MlpPolicy", make_env("InvertedPendulum-v5"), device="cpu",
                    policy_kwargs={"net_arch": [8], "activation_fn": nn.Tanh})
    model.save(tmp_path / "tanh.zip")
    with pytest.raises(PolicyLoadError, match="activation is .*Tanh"):
        load_ann(tmp_path / "tanh.zip", "InvertedPendulum-v5")


def test_sequential_object_and_file_roundtrip(tmp_path):
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2), nn.Tanh())
    graph = from_sequential(net, [-2, -1], [2, 1])
    obs = torch.randn(5, 4)
    want = net(obs).detach().double().numpy() * np.array([2, 1])
    np.testing.assert_allclose(graph.forward(obs.double().numpy()), want, atol=1e-6)
    with pytest.raises(PolicyLoadError, match="module 1 is Tanh"):
        from_sequential(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2), nn.Tanh()),
                        [-1], [1])
    with pytest.raises(PolicyLoadError, match="last module must be Tanh"):   # no tanh head
        from_sequential(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), [-1], [1])

    class LeakyAsRelu(nn.ReLU):          # a ReLU in name only
        def forward(self, x):
            return nn.functional.leaky_relu(x, 0.1)
    with pytest.raises(PolicyLoadError, match="module 1 is LeakyAsRelu"):
        from_sequential(nn.Sequential(nn.Linear(4, 8), LeakyAsRelu(), nn.Linear(8, 2),
                                      nn.Tanh()), [-1], [1])
