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
                                           (b"\x80\x02}q\x00.", "state dict")])
def test_garbage_files_get_clear_errors(tmp_path, content, match):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    with pytest.raises(PolicyLoadError, match=match):
        load_ann(bad, "Hopper-v4")
