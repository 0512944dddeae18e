"""Training: checkpoints, resume, export with metadata (a tiny run)."""
import json

import numpy as np

from loihi_deploy.api import load_ann
from loihi_deploy.training.train import TrainConfig, train


def test_train_checkpoints_resumes_and_exports(tmp_path, capsys):
    cfg = TrainConfig(algo="td3", env_id="InvertedPendulum-v5", steps=300, seed=1,
                      run_dir=str(tmp_path / "run"), eval_every=150, checkpoint_every=150,
                      learning_starts=100, eval_episodes=2, final_eval_episodes=3,
                      hidden=(16, 16))
    train(cfg, ["train", "--steps", "300"])
    progress = json.loads((tmp_path / "run" / "progress.json").read_text())
    assert progress["timesteps"] == 300 and [e["steps"] for e in progress["evals"]] == [150, 300]
    cfg.steps = 450
    out = train(cfg, ["train", "--steps", "450"])
    assert "resuming" in capsys.readouterr().err
    progress = json.loads((tmp_path / "run" / "progress.json").read_text())
    assert progress["timesteps"] == 450 and len(progress["evals"]) == 3
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["steps"] == 450 and meta["evaluation"]["episodes"] == 3
    assert meta["command"] == "loihi-deploy train --steps 450"
    graph = load_ann(out)  # the exported file loads through the frontend on its own
    assert graph.obs_dim == 4 and np.allclose(graph.head.scale, 3.0)
