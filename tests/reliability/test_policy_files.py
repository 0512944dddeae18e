"""Policy files that must be refused: code-carrying pickles, garbage, empty files."""
import pickle

import pytest
import torch

from loihi_deploy.compiler.frontend import PolicyLoadError
from loihi_deploy.api import load_ann


class _Exploit:
    def __reduce__(self):
        import os
        return (os.system, ("touch /tmp/loihi_deploy_pwned_marker",))


def test_pickle_carrying_code_is_refused_without_running_it(tmp_path):
    import pathlib
    marker = pathlib.Path("/tmp/loihi_deploy_pwned_marker")
    marker.unlink(missing_ok=True)
    evil = tmp_path / "evil.pt"
    torch.save({"l1.weight": torch.zeros(2, 2), "payload": _Exploit()}, evil, pickle_protocol=2)
    with pytest.raises(PolicyLoadError, match="refused"):
        load_ann(evil, "Hopper-v4")
    assert not marker.exists()
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(PolicyLoadError):
        load_ann(raw, "Hopper-v4")
    assert not marker.exists()


@pytest.mark.parametrize("content,match", [(b"", "empty file"), (b"PK\x03\x04garbage", "torch"),
                                           (b"\x80\x02}q\x00.", "not a readable torch")])
def test_garbage_files_get_clear_errors(tmp_path, content, match):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    with pytest.raises(PolicyLoadError, match=match):
        load_ann(bad, "Hopper-v4")


def _exploit_file(path):
    torch.save({"w": torch.zeros(2), "payload": _Exploit()}, path, pickle_protocol=2)
    return path


def test_every_torch_weights_reader_refuses_pickled_code_and_names_the_file(tmp_path, capsys):
    """One weights-only reader (compiler.files.read_torch_weights) behind every command that
    loads torch files: deploy-snn's run folder, train's and distill's resume files."""
    import json
    import pathlib
    from loihi_deploy.cli import main
    from loihi_deploy.compiler.files import read_torch_weights
    marker = pathlib.Path("/tmp/loihi_deploy_pwned_marker")
    marker.unlink(missing_ok=True)
    with pytest.raises(ValueError, match=r"best_actor\.pt: refused"):
        read_torch_weights(_exploit_file(tmp_path / "best_actor.pt"))
    truncated = tmp_path / "student.pt"
    truncated.write_bytes(_exploit_file(tmp_path / "x.pt").read_bytes()[:100])
    with pytest.raises(ValueError, match=r"student\.pt: not a readable torch weights file"):
        read_torch_weights(truncated)
    run = tmp_path / "run"
    run.mkdir()
    _exploit_file(run / "policy.pt")
    (run / "metrics.json").write_text(json.dumps(
        {"config": {"model": "snn", "task": "reach2d", "substeps": 7}}))
    assert main(["deploy-snn", str(run), "--episodes", "1"]) != 0
    assert f"{run / 'policy.pt'}: refused" in capsys.readouterr().err
    assert not marker.exists()
