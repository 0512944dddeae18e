"""Training checkpoints: a corrupt checkpoint gives a clear error naming the run directory."""
import pytest

from loihi_deploy.training.train import TrainConfig, train


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not really a zip"])
def test_corrupt_checkpoint_is_named(tmp_path, content):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.zip").write_bytes(content)
    cfg = TrainConfig(algo="td3", env_id="InvertedPendulum-v5", steps=200, run_dir=str(run),
                      hidden=(8,), learning_starts=50)
    with pytest.raises(ValueError, match="cannot resume from the checkpoint") as info:
        train(cfg, [])
    assert str(run) in str(info.value)
