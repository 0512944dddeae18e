"""Hostile files, round 2 (docs/reliability.md): nothing from a file is unpickled in any
command (training included), networks the converter cannot reproduce exactly are refused,
and files cannot reach outside themselves or make a reader allocate unbounded memory."""
import base64
import io
import json
import pathlib
import pickle
import zipfile

import h5py
import numpy as np
import pytest
import torch

from loihi_deploy.api import compile_policy, load_ann
from loihi_deploy.compiler.bundle import BundleError, load_bundle, save_bundle, write_header
from loihi_deploy.compiler.frontend import PolicyLoadError
from loihi_deploy.compiler.ir import MembranePolicy, NeuronModel

MARKER = pathlib.Path("/tmp/loihi_deploy_pwned_marker")
IDP = ("inverted_double_pendulum_v5_td3", "InvertedDoublePendulum-v5")


class _Exploit:
    def __reduce__(self):
        import os
        return (os.system, (f"touch {MARKER}",))


def _payload() -> str:
    return base64.b64encode(pickle.dumps(_Exploit())).decode()


@pytest.fixture(autouse=True)
def no_marker():
    MARKER.unlink(missing_ok=True)
    yield
    assert not MARKER.exists(), "a pickled payload ran"


def _sb3_zip(tmp_path, algo="TD3", activation=None, name="model.zip") -> pathlib.Path:
    import stable_baselines3 as sb3

    from loihi_deploy.runtime.envs import make_env
    kwargs = {"net_arch": [8, 8]}
    if activation is not None:
        kwargs["activation_fn"] = activation
    model = getattr(sb3, algo)("MlpPolicy", make_env("InvertedPendulum-v5"), seed=0,
                               policy_kwargs=kwargs, learning_starts=10, buffer_size=100)
    path = tmp_path / name
    model.save(path)
    return path


def _rewrite_member(path: pathlib.Path, member: str, content: bytes) -> None:
    with zipfile.ZipFile(path) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    items[member] = content
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in items.items():
            zf.writestr(n, data)


def _with_pickled_data(path: pathlib.Path) -> None:
    """Plant a code-carrying pickle where SB3 keeps its serialized objects."""
    with zipfile.ZipFile(path) as zf:
        data = json.loads(zf.read("data"))
    data["policy_kwargs"][":serialized:"] = _payload()
    data["observation_space"] = {":type:": "<class 'x'>", ":serialized:": _payload()}
    _rewrite_member(path, "data", json.dumps(data).encode())


# -- training never unpickles -----------------------------------------------------------------
def test_init_from_an_sb3_zip_reads_weights_without_running_its_pickles(tmp_path):
    from loihi_deploy.training.configs import TrainConfig
    from loihi_deploy.training.train import train
    source = _sb3_zip(tmp_path)
    _with_pickled_data(source)
    cfg = TrainConfig(algo="td3", env_id="InvertedPendulum-v5", steps=40, hidden=(8, 8),
                      run_dir=str(tmp_path / "run"), init_from=str(source), learning_starts=10,
                      eval_every=40, checkpoint_every=40)
    out = train(cfg, [])
    assert out.exists() and (tmp_path / "run" / "checkpoint" / "replay_buffer.npz").exists()


def test_init_from_refuses_a_model_of_other_sizes(tmp_path):
    from loihi_deploy.training.configs import TrainConfig
    from loihi_deploy.training.train import train
    source = _sb3_zip(tmp_path)
    cfg = TrainConfig(algo="td3", env_id="InvertedPendulum-v5", steps=40, hidden=(16, 16),
                      run_dir=str(tmp_path / "run"), init_from=str(source))
    with pytest.raises(ValueError, match="do not match|shape"):
        train(cfg, [])


def test_a_planted_pickle_in_a_run_dir_is_never_loaded(tmp_path):
    from loihi_deploy.training.configs import TrainConfig
    from loihi_deploy.training.train import train
    run = tmp_path / "run"
    run.mkdir()
    (run / "replay_buffer.pkl").write_bytes(pickle.dumps(_Exploit()))
    cfg = TrainConfig(algo="td3", env_id="InvertedPendulum-v5", steps=40, run_dir=str(run))
    with pytest.raises(ValueError, match="never loads") as info:
        train(cfg, [])
    assert str(run) in str(info.value)


def test_checkpoints_resume_and_a_tampered_one_is_refused(tmp_path):
    from loihi_deploy.training.configs import TrainConfig
    from loihi_deploy.training.train import train
    run = tmp_path / "run"
    cfg = TrainConfig(algo="sac", env_id="InvertedPendulum-v5", steps=30, hidden=(8,),
                      run_dir=str(run), learning_starts=10, eval_every=30, checkpoint_every=30)
    train(cfg, [])
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["num_timesteps"] == 30
    more = TrainConfig(**{**cfg.__dict__, "steps": 40, "eval_every": 40, "checkpoint_every": 40})
    train(more, [])                                           # resumes: 10 more steps
    assert json.loads((run / "checkpoint" / "state.json").read_text())["num_timesteps"] == 40
    torch.save({"policy": {"x": torch.zeros(1)}, "payload": _Exploit()},
               run / "checkpoint" / "params.pt")
    with pytest.raises(ValueError, match="cannot resume from the checkpoint"):
        train(TrainConfig(**{**more.__dict__, "steps": 50}), [])


# -- the converter accepts only what it reproduces exactly --------------------------------------
def _sequential_policy(tmp_path, modules, meta_changes=None, name="p") -> pathlib.Path:
    net = torch.nn.Sequential(*modules)
    path = tmp_path / f"{name}.pt"
    torch.save(net.state_dict(), path)
    meta = {"env_id": "InvertedPendulum-v5", "action_low": [-3.0], "action_high": [3.0],
            "activation": "relu", "head": "tanh", **(meta_changes or {})}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


@pytest.mark.parametrize("changes,match", [({"activation": "elu"}, "activation 'elu'"),
                                           ({"activation": None}, "activation"),
                                           ({"head": "identity"}, "head 'identity'")])
def test_sidecar_functions_other_than_relu_and_tanh_are_refused(tmp_path, changes, match):
    lin = [torch.nn.Linear(4, 8), torch.nn.ELU(), torch.nn.Linear(8, 1)]
    with pytest.raises(PolicyLoadError, match=match):
        load_ann(_sequential_policy(tmp_path, lin, changes))


def test_a_layer_the_converter_does_not_know_is_refused(tmp_path):
    modules = [torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.ReLU(), torch.nn.Linear(8, 1)]
    with pytest.raises(PolicyLoadError, match="normalisation|modules apart|1-D"):
        load_ann(_sequential_policy(tmp_path, modules))
    two_activations = [torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(),
                       torch.nn.Linear(8, 1)]
    with pytest.raises(PolicyLoadError, match="3 modules apart"):
        load_ann(_sequential_policy(tmp_path, two_activations, name="q"))


@pytest.mark.parametrize("activation", [torch.nn.LeakyReLU, torch.nn.ReLU6, torch.nn.ELU])
def test_sb3_actors_with_other_activations_are_refused(tmp_path, activation):
    path = _sb3_zip(tmp_path, activation=activation)
    with pytest.raises(PolicyLoadError, match="activation"):
        load_ann(path, "InvertedPendulum-v5")


def test_sb3_actor_with_a_custom_class_named_relu_is_refused(tmp_path):
    path = _sb3_zip(tmp_path)
    with zipfile.ZipFile(path) as zf:
        data = json.loads(zf.read("data"))
    data["policy_kwargs"]["activation_fn"] = "<class 'mylib.ReLU'>"
    _rewrite_member(path, "data", json.dumps(data).encode())
    with pytest.raises(PolicyLoadError, match="mylib.ReLU"):
        load_ann(path, "InvertedPendulum-v5")


def test_paper_actor_with_an_extra_layer_is_refused(tmp_path):
    state = {f"{n}.{t}": torch.zeros(3, 3) if t == "weight" else torch.zeros(3)
             for n in ("l1", "l2", "l3", "l4") for t in ("weight", "bias")}
    path = tmp_path / "actor.pt"
    torch.save(state, path)
    with pytest.raises(PolicyLoadError, match="l4"):
        load_ann(path, None)


@pytest.mark.parametrize("data", [b"[1, 2]", b'"text"', b"{not json"])
def test_malformed_sb3_data_gives_a_clear_error(tmp_path, data):
    path = _sb3_zip(tmp_path)
    _rewrite_member(path, "data", data)
    with pytest.raises(PolicyLoadError, match=str(path)):
        load_ann(path, "InvertedPendulum-v5")


@pytest.mark.parametrize("sidecar", ['[1]', '"x"', '{"action_low": 3, "action_high": [1]}',
                                     '{"conv": [1], "activation": "relu", "head": "tanh"}'])
def test_malformed_sidecars_give_a_clear_error(tmp_path, sidecar):
    path = _sequential_policy(tmp_path, [torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                         torch.nn.Linear(8, 1)])
    path.with_suffix(".json").write_text(sidecar)
    with pytest.raises(PolicyLoadError, match="metadata"):
        load_ann(path)


def test_a_zip_bomb_is_refused_before_it_inflates(tmp_path, monkeypatch):
    from loihi_deploy.compiler import files
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 1 << 20)
    path = _sb3_zip(tmp_path)
    bomb = b"\0" * (8 << 20)                         # 8 MiB of zeros: a few KiB compressed
    with zipfile.ZipFile(path) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    items["policy.pth"] = bomb
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, data in items.items():
            zf.writestr(n, data)
    with pytest.raises(PolicyLoadError, match="bytes"):
        load_ann(path, "InvertedPendulum-v5")


# -- bundles and netx files -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory):
    ann = load_ann(*IDP)
    graph = compile_policy(ann, IDP[1], 4, MembranePolicy("crpi", 0.5), calib_episodes=1,
                           profile="fixed")
    return save_bundle(graph, tmp_path_factory.mktemp("b") / "b.h5")


def _doctor(bundle: pathlib.Path, out: pathlib.Path, change) -> pathlib.Path:
    """Copy the bundle, change its HDF5 content, and re-sign the header (a hostile file
    carries a valid checksum: the checksum catches corruption, not intent)."""
    out.write_bytes(bundle.read_bytes())
    with h5py.File(out, "r+") as f:
        change(f)
    write_header(out)
    return out


def test_external_links_in_a_bundle_are_refused(small_bundle, tmp_path):
    outside = tmp_path / "outside.h5"
    with h5py.File(outside, "w") as f:
        f["w"] = np.ones((4, 4))

    def link(f):
        del f["readout/weight"]
        f["readout/weight"] = h5py.ExternalLink(str(outside), "w")
    with pytest.raises(BundleError, match="ExternalLink"):
        load_bundle(_doctor(small_bundle, tmp_path / "x.h5", link))


def test_a_huge_declared_dataset_is_refused_before_reading(small_bundle, tmp_path):
    def huge(f):
        del f["readout/bias"]
        f.create_dataset("readout/bias", shape=(1 << 40,), dtype="f8", chunks=(1024,))
    with pytest.raises(BundleError, match="declares shape"):
        load_bundle(_doctor(small_bundle, tmp_path / "x.h5", huge))


def test_netx_files_carry_a_checksum(tmp_path):
    from loihi_deploy.compiler.export_netx import check_netx_file, export_netx
    ann = load_ann("hopper_v5_td3", "Hopper-v5")
    graph = compile_policy(ann, "Hopper-v5", 4, MembranePolicy("vanilla"), calib_episodes=1,
                           profile="fixed", neuron=NeuronModel("cuba"))
    path = export_netx(graph, tmp_path / "h.net")
    check_netx_file(path)
    with h5py.File(path, "r+") as f:
        w = f["layer/1/weight"][()]
        w[0, 0] += 2
        f["layer/1/weight"][...] = w
    with pytest.raises(ValueError, match="checksum mismatch"):
        check_netx_file(path)


def test_a_bundle_declaring_a_huge_t_is_refused(small_bundle, tmp_path):
    def huge_t(f):
        f.attrs["timesteps"] = 100_000_000
    with pytest.raises(BundleError, match="timesteps T must be an integer in"):
        load_bundle(_doctor(small_bundle, tmp_path / "x.h5", huge_t))


@pytest.mark.parametrize("content", ["[]", '{"evals": 3}', "{not json", '"x"'])
def test_a_malformed_progress_file_in_a_run_dir_is_named(tmp_path, content):
    from loihi_deploy.training.configs import TrainConfig
    from loihi_deploy.training.train import train
    run = tmp_path / "run"
    run.mkdir()
    (run / "progress.json").write_text(content)
    cfg = TrainConfig(algo="td3", env_id="InvertedPendulum-v5", steps=40, run_dir=str(run))
    with pytest.raises(ValueError, match="progress.json"):
        train(cfg, [])


def test_a_malformed_trained_snn_run_is_named(tmp_path):
    from loihi_deploy.compiler.frontend import load_trained_snn
    (tmp_path / "policy.pt").write_bytes(b"")
    (tmp_path / "metrics.json").write_text('{"config": [1, 2]}')
    with pytest.raises(PolicyLoadError, match="metrics.json"):
        load_trained_snn(tmp_path)
