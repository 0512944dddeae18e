"""Trained `train-snn` runs: bundled ones by name or a run folder, and the policy network
rebuilt from the folder's metrics.json (config) and policy.pt (weights). Both files are read
as untrusted (docs/reliability.md): bounded sizes, weights-only torch, every size in the
config checked before a network is built, the weights checked against it."""
from __future__ import annotations

import pathlib

import torch

from loihi_deploy.compiler.files import (FileTooLarge, read_json_object, read_torch_weights,
                                         sha256_file)
from loihi_deploy.compiler.limits import MAX_HIDDEN_UNITS, MAX_SUBSTEPS
from loihi_deploy.training.checkpoint import load_module_state
from loihi_deploy.training.configs import SNNTrainConfig
from loihi_deploy.training.snn.tasks import TASK_IDS, task_type

BUNDLED = pathlib.Path(__file__).resolve().parents[2] / "policies" / "trained_snn"


def bundled_trained_runs() -> list[str]:
    """Names of the bundled train-snn runs, spiking and GRU baselines
    (loihi_deploy/policies/trained_snn/NAME)."""
    return sorted(p.parent.name for p in BUNDLED.glob("*/metrics.json"))


def resolve_run(name_or_dir: str | pathlib.Path) -> pathlib.Path:
    """A train-snn output folder, or the name of a bundled run (e.g. reach2d_snn)."""
    path = pathlib.Path(name_or_dir)
    if path.is_dir():
        return path
    if (BUNDLED / str(name_or_dir)).is_dir():
        return BUNDLED / str(name_or_dir)
    raise FileNotFoundError(f"{name_or_dir}: neither a train-snn output folder nor a bundled "
                            f"trained run ({', '.join(bundled_trained_runs()) or 'none'})")


def run_config(run_dir: pathlib.Path) -> dict:
    """The run's training configuration (metrics.json "config"), its network sizes checked."""
    if not (run_dir / "metrics.json").is_file():
        raise ValueError(f"{run_dir}: not a train-snn output folder (no metrics.json)")
    try:
        config = read_json_object(run_dir / "metrics.json", {"config": dict})["config"]
    except FileTooLarge as exc:
        raise ValueError(str(exc)) from None
    checks = {"model": lambda v: v in ("snn", "gru"),
              "task": lambda v: isinstance(v, str) and v in TASK_IDS,
              "hidden": lambda v: _integer(v, 1, MAX_HIDDEN_UNITS),
              "rank": lambda v: _integer(v, 0, MAX_HIDDEN_UNITS),
              "substeps": lambda v: _integer(v, 1, MAX_SUBSTEPS),
              "input_change": lambda v: v is None or isinstance(v, bool),
              "forward_model": lambda v: v is None or v in ("gru", "snn", "same")}
    wrong = [f"{key}={config.get(key)!r}" for key, valid in checks.items()
             if not valid(config.get(key))]
    if wrong:
        raise ValueError(f"{run_dir / 'metrics.json'}: config has invalid {', '.join(wrong)} "
                         f"(model snn|gru, task {'|'.join(TASK_IDS)}, hidden <= "
                         f"{MAX_HIDDEN_UNITS}, substeps <= {MAX_SUBSTEPS}, input_change "
                         f"true|false, forward_model gru|snn|same)")
    config["input_change"] = bool(config.get("input_change"))   # older runs: none
    return config


def load_policy(run_dir: str | pathlib.Path) -> tuple[torch.nn.Module, dict]:
    """(policy network in float32, config) of a run folder or bundled run name."""
    from loihi_deploy.training.snn.predictive import build_networks
    run_dir = resolve_run(run_dir)
    config = run_config(run_dir)
    known = SNNTrainConfig.__dataclass_fields__
    cfg = SNNTrainConfig(**{k: v for k, v in config.items() if k in known})
    env = task_type(cfg.task)
    _, policy = build_networks(cfg, env.obs_dim, env.act_dim, env.target_dim)
    # runs from before input standardisation lack its statistics (identity)
    load_module_state(policy, read_torch_weights(run_dir / "policy.pt"),
                      str(run_dir / "policy.pt"), "it does not match its config",
                      frozenset({"input_mean", "input_std"}))
    return policy, config


def run_fingerprint(run_dir: str | pathlib.Path) -> str:
    """sha256 of a run's policy.pt and metrics.json config: what a run that imitates it
    records, so that resuming with another teacher behind the same path is refused."""
    import hashlib
    import json
    run_dir = resolve_run(run_dir)
    digest = hashlib.sha256(sha256_file(run_dir / "policy.pt").encode())
    digest.update(json.dumps(run_config(run_dir), sort_keys=True).encode())
    return digest.hexdigest()


def _integer(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
