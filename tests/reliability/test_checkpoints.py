"""Training checkpoints: a corrupt checkpoint gives a clear error naming the run directory;
pickle files of older versions are never loaded (tests/reliability/test_hostile_files.py has
the code-carrying cases)."""
import pytest

from loihi_deploy.training.configs import TrainConfig
from loihi_deploy.training.train import train


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not really a zip", b"{}"])
def test_corrupt_checkpoint_is_named(tmp_path, content):
    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    (run / "checkpoint" / "state.json").write_bytes(content)
    (run / "checkpoint" / "params.pt").write_bytes(content)
    cfg = TrainConfig(algo="td3", env_id="InvertedPendulum-v5", steps=200, run_dir=str(run),
                      hidden=(8,), learning_starts=50)
    with pytest.raises(ValueError, match="cannot resume from the checkpoint") as info:
        train(cfg, [])
    assert str(run) in str(info.value)


def test_an_old_pickle_checkpoint_is_refused_with_the_way_forward(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.zip").write_bytes(b"PK\x03\x04")
    cfg = TrainConfig(algo="td3", env_id="InvertedPendulum-v5", steps=200, run_dir=str(run))
    with pytest.raises(ValueError, match="never loads.*--init-from"):
        train(cfg, [])
