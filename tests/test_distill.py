"""Pixel-policy distillation (loihi_deploy.training.distill): runs, resumes, exports a loadable policy."""
import json

import numpy as np

from loihi_deploy.api import load_ann
from loihi_deploy.compiler.ir import Conv2d
from loihi_deploy.training.distill import DistillConfig, distill
from loihi_deploy.runtime.pixels import pixel_shape


def test_distill_exports_a_convertible_pixel_policy_and_resumes(tmp_path, capsys):
    cfg = DistillConfig(expert="inverted_pendulum_v5_td3", env_id="InvertedPendulum-v5-pixels",
                        iterations=1, episodes=1, updates=3, eval_episodes=1,
                        final_eval_episodes=2, run_dir=str(tmp_path / "run"),
                        out=str(tmp_path / "p.pt"))
    out = distill(cfg, ["distill", "--test"])
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["env_id"] == "InvertedPendulum-v5-pixels" and meta["algo"] == "dagger"
    assert meta["input"]["shape"] == list(pixel_shape()) and len(meta["conv"]) == 3
    assert len(meta["evaluation"]["returns"]) == 2 and meta["expert_evaluation"]["episodes"] == 2
    graph = load_ann(out, "InvertedPendulum-v5-pixels")
    assert isinstance(graph.hidden[0], Conv2d) and graph.obs_dim == int(np.prod(pixel_shape()))
    # a second run with more iterations continues from the first one's data and student
    cfg.iterations = 2
    distill(cfg, ["distill"])
    assert "resuming" in capsys.readouterr().out
    progress = json.loads((tmp_path / "run" / "progress.json").read_text())
    assert [e["iteration"] for e in progress["iterations"]] == [0, 1]
    assert progress["iterations"][1]["frames"] > progress["iterations"][0]["frames"]
