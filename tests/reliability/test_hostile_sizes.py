"""Hostile files, round 3 (docs/reliability.md): sizes a file declares without holding them
(stride-0 tensors, forged .npy headers, sparse files, YAML aliases, env keywords that size a
step), tensors the converter would change silently, and readers that failed with a library's
traceback instead of an error naming the file."""
import io
import json
import pathlib
import zipfile

import h5py
import numpy as np
import pytest
import torch

from loihi_deploy.api import compile_policy, load_ann
from loihi_deploy.cli import main
from loihi_deploy.compiler.bundle import BundleError, load_bundle, save_bundle, write_header
from loihi_deploy.compiler.files import FileTooLarge, read_npz, read_sb3_zip
from loihi_deploy.compiler.frontend import PolicyLoadError
from loihi_deploy.compiler.ir import MembranePolicy

IDP = ("inverted_double_pendulum_v5_td3", "InvertedDoublePendulum-v5")
PAPER_SHAPES = {"l1.weight": (8, 11), "l1.bias": (8,), "l2.weight": (8, 8), "l2.bias": (8,),
                "l3.weight": (1, 8), "l3.bias": (1,)}


def _paper_actor(tmp_path, **replace) -> pathlib.Path:
    state = {k: torch.zeros(shape) for k, shape in PAPER_SHAPES.items()}
    state.update(replace)
    path = tmp_path / "actor.pt"
    torch.save(state, path)
    return path


@pytest.mark.parametrize("tensor,match", [
    (torch.zeros(1).expand(30000, 30000), "more than"),           # 3 KB file, 7 GB as float64
    (torch.zeros(8, 11, dtype=torch.complex64), "complex64"),      # would drop the imaginary part
    (torch.zeros(8, 11).to_sparse(), "sparse"),
    (torch.empty(8, 11, device="meta"), "meta"),
])
def test_tensors_a_file_declares_but_the_converter_cannot_take_are_refused(tmp_path, tensor,
                                                                          match):
    path = _paper_actor(tmp_path, **{"l1.weight": tensor})
    with pytest.raises(PolicyLoadError, match=match) as info:
        load_ann(path, IDP[1])
    assert str(path) in str(info.value)


def test_a_state_dict_with_non_string_keys_is_named(tmp_path):
    path = tmp_path / "keys.pt"
    torch.save({1: torch.zeros(2), "x": torch.zeros(2)}, path)
    with pytest.raises(PolicyLoadError, match="keys are tensor names") as info:
        load_ann(path, IDP[1])
    assert str(path) in str(info.value)


def _npz_with_forged_header(path: pathlib.Path, names, forged: str, shape) -> None:
    """An .npz whose member `forged` declares `shape` in its header but holds 8 bytes."""
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': %r, }" % (shape,)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            if name == forged:
                zf.writestr(f"{name}.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little")
                            + header.encode() + bytes(8))
            else:
                buffer = io.BytesIO()
                np.save(buffer, np.zeros(3))
                zf.writestr(f"{name}.npy", buffer.getvalue())


def test_a_forged_npy_header_is_refused_before_numpy_allocates(tmp_path):
    path = tmp_path / "x.npz"
    _npz_with_forged_header(path, ("a", "b"), "b", (10 ** 12,))
    with pytest.raises(FileTooLarge, match=r"b.npy declares shape \(1000000000000,\)"):
        read_npz(path, ("a", "b"))
    assert read_npz(path, ("a",))["a"].shape == (3,)
    with zipfile.ZipFile(path, "w") as zf:               # an object array: would unpickle
        buffer = io.BytesIO()
        np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        zf.writestr("a.npy", buffer.getvalue())
    with pytest.raises(ValueError, match="object array"):
        read_npz(path, ("a",))


def test_a_train_snn_episodes_file_with_a_forged_header_is_named(tmp_path):
    from loihi_deploy.training.configs import SNNTrainConfig
    from loihi_deploy.training.snn.resume import load_episodes
    path = tmp_path / "00000.npz"
    _npz_with_forged_header(path, ("obs", "act", "target"), "target", (10 ** 12,))
    with pytest.raises(ValueError, match="target.npy declares shape") as info:
        load_episodes(path, SNNTrainConfig(task="reach2d"))
    assert str(path) in str(info.value)


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory):
    graph = compile_policy(load_ann(*IDP), IDP[1], 4, MembranePolicy("crpi", 0.5),
                           calib_episodes=1, profile="fixed")
    return save_bundle(graph, tmp_path_factory.mktemp("b") / "b.h5")


def _doctor(bundle: pathlib.Path, out: pathlib.Path, change) -> pathlib.Path:
    """Copy, change and re-sign (the checksum catches corruption, not intent)."""
    out.write_bytes(bundle.read_bytes())
    with h5py.File(out, "r+") as f:
        change(f)
    write_header(out)
    return out


@pytest.mark.parametrize("name,value", [
    ("timesteps", np.float64("inf")), ("timesteps", np.array([4, 4])),
    ("fixed_input_bits", np.array([16, 16])),
    ("calibration", "[" * 100_000), ("env_kwargs", '{"frame_skip": 1000000000}'),
])
def test_malformed_bundle_attributes_are_named(small_bundle, tmp_path, name, value):
    """frame_skip 10**9 made one env step a C loop that ignored SIGTERM."""
    path = _doctor(small_bundle, tmp_path / "x.h5", lambda f: f.attrs.__setitem__(name, value))
    with pytest.raises(BundleError) as info:
        load_bundle(path)
    assert str(path) in str(info.value)


def test_a_zero_width_layer_is_refused(small_bundle, tmp_path):
    def zero(f):
        del f["readout/weight"]
        f["readout/weight"] = np.zeros((1, 0))
    with pytest.raises(BundleError, match="at least one input"):
        load_bundle(_doctor(small_bundle, tmp_path / "x.h5", zero))


def test_a_sparse_huge_file_is_refused_by_its_size_before_it_is_read(tmp_path):
    bundle, policy = tmp_path / "huge.h5", tmp_path / "huge.pt"
    for path, head in ((bundle, b"LOIHI-DEPLOY-BUNDLE\nschema=4\n"), (policy, b"PK\x03\x04")):
        with open(path, "wb") as f:     # 3 GiB on paper, a few bytes on disk
            f.write(head)
            f.truncate(3 << 30)
    with pytest.raises(BundleError, match="more than the"):
        load_bundle(bundle)
    with pytest.raises(PolicyLoadError, match="more than the"):
        load_ann(policy, IDP[1])


def test_sb3_zips_read_only_the_members_needed_and_bound_their_total(tmp_path, monkeypatch):
    from loihi_deploy.compiler import files
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data", "{}")
        zf.writestr("policy.pth", bytes(600))
        zf.writestr("extra.pth", bytes(600))
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 1000)
    with pytest.raises(FileTooLarge, match="declare 1200 bytes together"):
        read_sb3_zip(path)
    assert list(read_sb3_zip(path, pth_members=("policy.pth",))[1]) == ["policy.pth"]


def test_deeply_nested_json_is_named(tmp_path):
    path = _paper_actor(tmp_path)
    path.with_suffix(".json").write_text("[" * 100_000)
    with pytest.raises(PolicyLoadError, match="nested too deeply") as info:
        load_ann(path, IDP[1])
    assert "actor.json" in str(info.value)


def test_yaml_aliases_in_a_zoo_args_file_are_refused(tmp_path):
    from loihi_deploy.compiler import sb3
    args = tmp_path / "InvertedPendulum-v5" / "args.yml"
    args.parent.mkdir()
    laughs = ['a0: &a0 ["x", "x"]'] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 8)]
    args.write_text("\n".join(laughs + ["env: InvertedPendulum-v5", "env_kwargs: {b: *a7}"]))
    with pytest.raises(sb3.SB3FileError, match="aliases"):
        sb3.zoo_run(tmp_path)


@pytest.mark.parametrize("kwargs", [{"frame_skip": 10 ** 9}, {"max_episode_steps": 1e12},
                                    {"width": -1}, {1: 2}])
def test_env_keywords_that_size_a_step_or_an_episode_are_bounded(kwargs):
    from loihi_deploy.runtime.envs import make_env
    with pytest.raises(ValueError, match="env_kwargs"):
        make_env("Hopper-v5", kwargs)


@pytest.mark.parametrize("argv,msg", [
    (["run", "x.h5", "--seed", "-5"], "integer in [0, "),
    (["train", "--env", "Hopper-v5", "--steps", "1000000000000000"], "integer in [1, "),
    (["distill", "--expert", "x", "--env", "x", "--shift", "-5"], "integer in [0, 32]"),
    (["train-snn", "--batch", "1000000000"], "integer in [1, 65536]"),
    (["train-snn", "--threads", "100000"], "integer in [1, 256]"),
])
def test_argument_sizes_are_bounded_by_the_parser(argv, msg, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and msg in capsys.readouterr().err


def test_a_train_snn_horizon_longer_than_an_episode_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train-snn", "--task", "reach2d", "--horizon", "1000000", "--out",
                 str(out)]) == 2
    assert "must fit in an episode" in capsys.readouterr().err and not out.exists()


def test_a_trained_snn_run_without_a_task_is_named(tmp_path):
    import shutil

    from loihi_deploy.compiler.frontend import load_trained_snn
    from loihi_deploy.training.snn.runs import resolve_run
    run = tmp_path / "run"
    shutil.copytree(resolve_run("reach2d_snn"), run)
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["config"]["task"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(PolicyLoadError, match="config has invalid task=None"):
        load_trained_snn(run)


@pytest.mark.lava
@pytest.mark.parametrize("change", ["neuron type", "missing weight", "zero weights"])
def test_a_re_signed_netx_file_is_refused_before_lava_dl_reads_it(tmp_path, change):
    """The netx checksum has no key: a hostile file passes it, and lava-dl's reader failed on
    it deep inside (AttributeError, KeyError, OverflowError). Its content is not the bundle's
    export, which is checked first: an error naming the file, before any Lava process."""
    from loihi_deploy.compiler.export_netx import CHECKSUM_ATTR, export_netx, netx_digest
    from loihi_deploy.compiler.ir import NeuronModel
    from loihi_deploy.runtime.netx_runner import NetxController
    graph = compile_policy(load_ann("hopper_v5_td3", "Hopper-v5"), "Hopper-v5", 4,
                           MembranePolicy("vanilla"), calib_episodes=1, profile="fixed",
                           neuron=NeuronModel("cuba"))
    path = export_netx(graph, tmp_path / "h.net")
    with h5py.File(path, "r+") as f:
        if change == "neuron type":
            del f["layer/1/neuron/type"]
            f["layer/1/neuron/type"] = np.bytes_("XYZ")
        elif change == "missing weight":
            del f["layer/2/weight"]
        else:
            f["layer/2/weight"][...] = 0
        f.attrs[CHECKSUM_ATTR] = netx_digest(f)
    with pytest.raises(ValueError, match="not this bundle's export") as info:
        NetxController(path, graph)
    assert str(path) in str(info.value)


def test_train_init_from_a_zip_past_the_limit_creates_no_run_folder(tmp_path, monkeypatch):
    import stable_baselines3 as sb3

    from loihi_deploy.compiler import files
    from loihi_deploy.runtime.envs import make_env
    from loihi_deploy.training.configs import TrainConfig
    from loihi_deploy.training.train import train
    path = tmp_path / "model.zip"
    sb3.TD3("MlpPolicy", make_env("InvertedPendulum-v5"), policy_kwargs={"net_arch": [8, 8]},
            learning_starts=10, buffer_size=100).save(path)
    with zipfile.ZipFile(path) as zf:
        largest = max(zf.getinfo(n).file_size for n in zf.namelist() if n.endswith(".pth"))
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("extra.pth", bytes(largest))
    monkeypatch.setattr(files, "MAX_FILE_BYTES", largest)     # each member fits, not all
    run = tmp_path / "run"
    cfg = TrainConfig(env_id="InvertedPendulum-v5", steps=40, init_from=str(path),
                      run_dir=str(run))
    with pytest.raises(ValueError, match="together"):
        train(cfg, [])
    assert not run.exists()


# -- round 4: values of the wrong kind, pickled statistics, env keywords, outputs -------------
POLICIES = pathlib.Path(__file__).resolve().parents[2] / "loihi_deploy" / "policies"


def _with_sidecar(tmp_path, name: str, change) -> pathlib.Path:
    """A copy of a bundled Sequential policy whose sidecar JSON `change` edits."""
    path = tmp_path / f"{name}.pt"
    path.write_bytes((POLICIES / f"{name}.pt").read_bytes())
    meta = json.loads((POLICIES / f"{name}.json").read_text())
    change(meta)
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


@pytest.mark.parametrize("name,change", [
    ("inverted_pendulum_v5_td3", lambda m: m.update(action_low=[float("nan")])),
    ("inverted_pendulum_v5_td3", lambda m: m.update(action_low=["a"])),
    ("inverted_pendulum_v5_pixels_distilled", lambda m: m["input"].update(scale=[1, 2])),
    ("inverted_pendulum_v5_pixels_distilled", lambda m: m["conv"][0].update(stride=None)),
])
def test_sidecar_values_of_the_wrong_kind_are_named(tmp_path, name, change):
    path = _with_sidecar(tmp_path, name, change)
    with pytest.raises(PolicyLoadError) as info:
        load_ann(path)
    assert str(path) in str(info.value)


def test_a_pickle_rebuilding_one_buffer_into_many_arrays_is_refused():
    """A memoised 1 MiB buffer rebuilt into 8 arrays: 8 MiB from a 1 MiB file (the audit's
    15 MB file reached 1.8 GB at 100 rebuilds)."""
    import struct

    from loihi_deploy.compiler.pickle_data import PickleDataError, read_pickle_data

    def text(x):
        return b"\x8c" + bytes([len(x)]) + x.encode()

    def name(module, attr):
        return text(module) + text(attr) + b"\x93"

    def raw(data):
        return b"B" + struct.pack("<I", len(data)) + data
    n = 1 << 17
    dtype = (name("numpy", "dtype") + text("f8") + b"\x89\x88\x87R(K\x03" + text("<")
             + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    memo = (raw(bytes(8 * n)) + b"\x94" + name("numpy.core.multiarray", "_reconstruct")
            + b"\x94" + name("numpy", "ndarray") + b"K\x00\x85" + raw(b"b") + b"\x87\x94"
            + b"(K\x01(J" + struct.pack("<i", n) + b"t" + dtype + b"\x89h\x00t\x94")
    rebuild = b"h\x01h\x02Rh\x03b"
    assert read_pickle_data(b"\x80\x04(" + memo + rebuild + b"l.", "x", set())[-1].shape == (n,)
    with pytest.raises(PickleDataError, match="more bytes than the file"):
        read_pickle_data(b"\x80\x04(" + memo + rebuild * 8 + b"l.", "x", set())


def test_vecnormalize_numbers_beyond_float_are_not_positive_numbers():
    from loihi_deploy.compiler.sb3 import _positive_float
    assert _positive_float(2.0) and _positive_float(3)
    assert not any(_positive_float(v) for v in (10 ** 400, float("nan"), True, -1.0, "2"))


@pytest.mark.parametrize("kwargs,match", [
    ({"render_mode": "human"}, "off-screen"),           # aborted the process (no display)
    ({"reset_noise_scale": float("nan")}, "finite number"),
    ({"reset_noise_scale": 1e308}, "OverflowError"),   # failed only at the first reset
    ({"reset_noise_scale": {"a": 1}}, "TypeError"),
    ({"xml_file": "/tmp"}, "not a regular file"),
])
def test_env_keyword_values_are_checked_before_and_at_the_first_reset(kwargs, match):
    from loihi_deploy.runtime.envs import make_env
    with pytest.raises(ValueError, match=match):
        make_env("Hopper-v5", kwargs)


def test_an_xml_file_that_is_a_fifo_is_refused_instead_of_blocking(tmp_path):
    import os

    from loihi_deploy.runtime.envs import make_env
    fifo = tmp_path / "model.xml"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        make_env("Hopper-v5", {"xml_file": str(fifo)})


def test_a_bundle_whose_source_is_not_an_object_is_named(small_bundle, tmp_path):
    path = _doctor(small_bundle, tmp_path / "x.h5", lambda f: f.attrs.__setitem__("source",
                                                                                 "[1, 2]"))
    with pytest.raises(BundleError, match="attribute source: expected a JSON object"):
        load_bundle(path)


def test_outputs_never_replace_an_input_or_a_special_file(small_bundle, tmp_path, capsys):
    import os
    bundle = tmp_path / "b.h5"
    bundle.write_bytes(small_bundle.read_bytes())
    assert main(["export", str(bundle), "-o", str(bundle)]) == 2
    assert "would overwrite this command's input" in capsys.readouterr().err
    load_bundle(bundle)                                  # still the bundle
    fifo = tmp_path / "out.nir"
    os.mkfifo(fifo)
    assert main(["export", str(bundle), "-o", str(fifo)]) == 2
    assert "not a regular file" in capsys.readouterr().err and fifo.is_fifo()


@pytest.mark.parametrize("argv, said", [
    (["sweep", "P.pt", "--episodes", "2", "--plot", "P.pt"], "would overwrite"),   # a PNG
    (["sweep", "P.pt", "--episodes", "2", "--json", "P.json"], "would overwrite"),  # metadata
    (["compile", "P.pt", "-o", "P.json"], "would overwrite"),
    (["sweep", "P.pt", "--episodes", "2", "--json", "x.json", "--plot", "x.json"],
     "named for two outputs"),
    (["sweep", "P.pt", "--episodes", "2", "--json", "BUNDLED"], "bundled policies"),
    (["deploy-snn", "RUN", "--out", "RUN/policy.pt"], "would overwrite"),
])
def test_no_output_lands_on_an_input_its_metadata_or_a_bundled_policy(tmp_path, capsys, argv,
                                                                      said):
    import shutil

    from loihi_deploy.training.snn.runs import BUNDLED
    from loihi_deploy.zoo import POLICY_DIR
    for suffix in (".pt", ".json"):
        shutil.copy(POLICY_DIR / f"inverted_pendulum_v5_td3{suffix}", tmp_path / f"P{suffix}")
    shutil.copytree(BUNDLED / "reach2d_snn", tmp_path / "RUN")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    bundled = str(POLICY_DIR / "inverted_pendulum_v5_td3.pt")
    argv = [bundled if a == "BUNDLED" else str(tmp_path / a) if "." in a or a == "RUN" else a
            for a in argv]
    assert main(argv) == 2
    assert said in capsys.readouterr().err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_train_snn_checkpoint_with_nan_weights_is_named(tmp_path, capsys):
    run = tmp_path / "run"
    tiny = ["train-snn", "--task", "reach2d", "--hidden", "8", "--rank", "0", "--episodes", "2",
            "--model-batches", "1", "--policy-batches", "1", "--batch", "4", "--horizon", "5",
            "--threads", "1", "--out", str(run)]
    assert main(tiny + ["--iterations", "1"]) == 0
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    first = next(iter(state["policy"]))
    state["policy"][first] = state["policy"][first] * float("nan")
    torch.save(state, run / "checkpoint.pt")
    capsys.readouterr()
    assert main(tiny + ["--iterations", "2"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.pt: policy." in err and "holds NaN" in err
    assert not (run / "episodes" / "00001.npz").exists()
    state["policy"][first] = state["policy"][first].nan_to_num(0.0)
    moments = state["policy_optimizer"]["state"][0]
    moments["exp_avg_sq"] = -moments["exp_avg_sq"].abs() - 1     # a variance below 0
    torch.save(state, run / "checkpoint.pt")
    assert main(tiny + ["--iterations", "2"]) == 2
    assert "policy_optimizer.state.0.exp_avg_sq holds NaN, Inf or a negative" in \
        capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:MuJoCo:RuntimeWarning")   # the ANN's NaN actions
def test_weights_that_overflow_on_the_calibration_states_are_named(tmp_path):
    path = _with_sidecar(tmp_path, "inverted_pendulum_v5_pixels_distilled",
                         lambda m: m["input"].update(scale=1e308))
    with pytest.raises(ValueError, match="overflow float64") as info:
        compile_policy(load_ann(path), "InvertedPendulum-v5-pixels", 2, calib_episodes=1)
    assert str(path) in str(info.value)


# -- round 5: integer fields, grids, exports, special files, folder outputs -------------------
@pytest.mark.parametrize("text", ["0:1:5e-324", "-0:1e308:1e-308"])
def test_an_alpha_grid_whose_size_overflows_is_refused(text):
    from loihi_deploy.api import parse_alphas
    with pytest.raises(ValueError, match="at most 101"):
        parse_alphas(text)


@pytest.mark.parametrize("name,value", [("fixed_input_bits", "8"), ("fixed_readout_exp", "1"),
                                        ("timesteps", 2.5), ("fixed_input_bits", 8.5)])
def test_integer_attributes_of_another_kind_are_refused_not_truncated(small_bundle, tmp_path,
                                                                      name, value):
    path = _doctor(small_bundle, tmp_path / "x.h5", lambda f: f.attrs.__setitem__(name, value))
    with pytest.raises(BundleError, match="expected an integer") as info:
        load_bundle(path)
    assert str(path) in str(info.value)


def test_netx_export_refuses_split_weights_it_would_drop(tmp_path):
    import dataclasses

    from loihi_deploy.compiler.export_netx import export_netx
    from loihi_deploy.compiler.ir import NeuronModel
    graph = compile_policy(load_ann("inverted_pendulum_v5_td3", "InvertedPendulum-v5"),
                           "InvertedPendulum-v5", 2, MembranePolicy("vanilla"), calib_episodes=1,
                           profile="fixed", neuron=NeuronModel("cuba"), weight_bits=8)
    low = [dataclasses.replace(q, weight_low=np.ones_like(q.weight)) for q in graph.fixed.hidden]
    split = graph.replace(fixed=dataclasses.replace(graph.fixed, hidden=low))
    with pytest.raises(ValueError, match="split 16-bit weights"):
        export_netx(split, tmp_path / "x.net")
    assert not (tmp_path / "x.net").exists()
    from loihi_deploy.compiler.bundle import save_bundle as save
    bundle = save(split, tmp_path / "split.h5")       # the CLI names the bundle
    assert main(["export", str(bundle), "--format", "netx", "-o", str(tmp_path / "x.net")]) == 2


def test_inspect_energy_checks_the_bundle_against_its_env(small_bundle, tmp_path, capsys):
    path = _doctor(small_bundle, tmp_path / "x.h5",
                   lambda f: f.attrs.__setitem__("env_id", "Hopper-v5"))
    assert main(["inspect", str(path), "--energy-episodes", "1"]) == 2
    assert f"{path}: compiled for Hopper-v5" in capsys.readouterr().err
    path = _doctor(small_bundle, tmp_path / "y.h5",
                   lambda f: f.attrs.__setitem__("env_id", "CartPole-v1"))
    assert main(["inspect", str(path), "--energy-episodes", "1"]) == 2
    assert "CartPole-v1: expected a flat Box action space" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_sidecar_that_is_a_fifo_or_dev_zero_is_refused_without_reading(tmp_path, kind):
    import os
    path = _paper_actor(tmp_path)
    sidecar = path.with_suffix(".json")
    if kind == "fifo":
        os.mkfifo(sidecar)
    else:
        sidecar.symlink_to("/dev/zero")
    with pytest.raises(PolicyLoadError, match="not a regular file"):
        load_ann(path, IDP[1])


@pytest.mark.parametrize("argv,msg", [
    (["check", "x.h5", "--min-ratio", "nan"], "expected a finite number"),
    (["deploy-snn", "reach2d_snn", "--lava-episodes", "-5"], "integer in [0, 1000]"),
])
def test_numbers_the_parser_used_to_pass_are_refused(argv, msg, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and msg in capsys.readouterr().err


@pytest.mark.parametrize("argv,msg", [
    (["bench", "--quick", "--parts", "", "--out", "OUT"], "an empty list"),
    (["bench", "--quick", "--parts", "cost", "--out", "FILE"], "is a file or device; bench writes into"),
    (["demo", "--out", "FILE"], "is a file or device; demo writes into a folder"),
])
def test_folder_outputs_and_part_lists_are_checked_before_any_work(tmp_path, capsys, argv,
                                                                    msg):
    (tmp_path / "FILE").write_text("x")
    argv = [str(tmp_path / a) if a in ("OUT", "FILE") else a for a in argv]
    assert main(argv) == 2
    assert msg in capsys.readouterr().err
