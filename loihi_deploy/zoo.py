"""Policies bundled with loihi-deploy (trained by the project; see each .json for provenance)."""
from __future__ import annotations

import json
import pathlib

POLICY_DIR = pathlib.Path(__file__).parent / "policies"


def bundled_policies() -> dict[str, dict]:
    """name -> metadata (with 'path'), e.g. 'halfcheetah_v5_td3'."""
    out = {}
    for meta_path in sorted(POLICY_DIR.glob("*.json")):
        weights = meta_path.with_suffix(".pt")
        if weights.exists():
            out[meta_path.stem] = {**json.loads(meta_path.read_text()), "path": str(weights)}
    return out


def resolve_policy(name_or_path: str) -> pathlib.Path:
    """A bundled policy name or a file path -> path; clear error listing the names otherwise."""
    path = pathlib.Path(name_or_path)
    if path.exists():
        return path
    zoo = bundled_policies()
    if name_or_path in zoo:
        return pathlib.Path(zoo[name_or_path]["path"])
    raise FileNotFoundError(f"{name_or_path}: neither a file nor a bundled policy "
                            f"(bundled: {', '.join(zoo) or 'none'})")


def recorded_evaluation(meta: dict) -> "np.ndarray":
    """Per-episode returns recorded in a policy's metadata, checked for internal consistency
    (their mean is the recorded mean). Measured on one machine: compare with a replay only
    through loihi_deploy.stats.replay_agrees."""
    import numpy as np
    evaluation = meta.get("evaluation") or {}
    returns = np.asarray(evaluation.get("returns", []), dtype=np.float64)
    if returns.size < 2 or not np.isclose(returns.mean(), evaluation.get("mean", np.nan),
                                           rtol=1e-6, atol=0.01):
        raise ValueError(f"{meta.get('path', 'policy')}: recorded evaluation is missing or its "
                         f"mean does not match its per-episode returns")
    return returns
