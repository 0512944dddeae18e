"""Sizes a user controls are checked before memory is allocated (compiler/limits.py), and
writes never leave half a file (compiler/files.py) (docs/reliability.md)."""
import os
import pathlib
import resource
import signal
import subprocess
import sys
import threading

import pytest

from loihi_deploy.cli import main
from loihi_deploy.compiler.files import atomic_write_bytes

ROOT = pathlib.Path(__file__).resolve().parents[2]
IDP = ["inverted_double_pendulum_v5_td3", "--env", "InvertedDoublePendulum-v5"]


@pytest.mark.parametrize("argv,msg", [
    (["compile", *IDP, "-T", "100000000", "-o", "x.h5"], "integer in [1, 4096]"),
    (["sweep", *IDP, "--alphas", "0:1:1e-9"], "at most 101"),
    (["sweep", *IDP, "--alphas", "0:1:0"], "STEP must be > 0"),
    (["sweep", *IDP, "--alphas", "1:0:0.1"], "START 1 is above STOP 0"),
    (["sweep", *IDP, "--episodes", "1000000000"], "integer in [1, 1000]"),
    (["run", "x.h5", "--episodes", "100000"], "integer in [1, 1000]"),
    (["verify", "x.h5", "--decisions", "10000000000"], "integer in [1, 1000000]"),
    (["compile", *IDP, "--calib-episodes", "99999", "-o", "x.h5"], "integer in [1, 1000]"),
    (["train-snn", "--iterations", "1000000000"], "integer in [1, 100000]"),
])
def test_sizes_beyond_the_limits_are_rejected_by_the_parser(argv, msg, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and msg in capsys.readouterr().err


def test_the_api_checks_the_same_limits():
    from loihi_deploy.api import compile_policy, load_ann, sweep
    ann = load_ann(IDP[0])
    with pytest.raises(ValueError, match=r"timesteps T must be an integer in \[1, 4096\]"):
        compile_policy(ann, IDP[2], timesteps=10 ** 8)
    with pytest.raises(ValueError, match="alphas x episodes"):
        sweep(None, ann, IDP[2], [0.0] * 101, 1000)


def _compile(tmp_path, out) -> subprocess.CompletedProcess:
    def limit_file_size():   # what a full disk looks like to the writer: the write fails
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return subprocess.run([sys.executable, "-m", "loihi_deploy.cli", "compile",
                           "halfcheetah_v5_td3", "--env", "HalfCheetah-v5", "-T", "4",
                           "--calib-episodes", "1", "--profile", "fixed", "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True, preexec_fn=limit_file_size)


def test_a_full_disk_while_writing_a_bundle_leaves_nothing(tmp_path):
    out = tmp_path / "out" / "cheetah.h5"
    result = _compile(tmp_path, out)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{out}: cannot write" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and os.listdir(out.parent) == []


def test_json_onto_a_directory_names_the_file(tmp_path, capsys):
    bundle = tmp_path / "b.h5"
    assert main(["compile", *IDP, "-T", "2", "--calib-episodes", "1", "-o", str(bundle)]) == 0
    target = tmp_path / "adir"
    target.mkdir()
    assert main(["run", str(bundle), "--episodes", "2", "--json", str(target)]) == 2
    assert f"{target}: is a directory" in capsys.readouterr().err
    assert list(target.iterdir()) == [] and not list(tmp_path.glob(".*.tmp"))


def test_two_writers_to_one_path_never_mix(tmp_path):
    path = tmp_path / "result.json"
    contents = [bytes([65 + i]) * 2_000_000 for i in range(4)]
    threads = [threading.Thread(target=atomic_write_bytes, args=(path, c)) for c in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_bytes() in contents
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
