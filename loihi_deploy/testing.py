"""Deployment checks for users' own test suites (CPU-simulated, no chip needed).

    from loihi_deploy.testing import assert_deploys

    def test_cheetah_policy_still_controls():
        assert_deploys("build/cheetah.h5", min_ratio=0.5, episodes=10)

The bundle is run on the emulator (or Lava with backend="lava") next to the ANN it was
compiled from (its weights are in the bundle), on the same episode seeds. Closed-loop returns
differ between CPUs (docs/reproducibility.md): set min_ratio with a margin below the ratio the
bundle reaches, not at it.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from loihi_deploy.compiler.bundle import check_bundle_env, load_bundle
from loihi_deploy.compiler.ir import AnnGraph
from loihi_deploy.stats import mean_ci95
from loihi_deploy.runtime.envs import env_spaces


@dataclasses.dataclass
class DeployCheck:
    env_id: str
    episodes: int
    ann_mean: float
    snn_mean: float
    ratio: float
    ann_ci95: float      # half-widths of the 95% t-intervals of the means
    snn_ci95: float
    min_ratio: float
    floor: float | None
    passed: bool

    def summary(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        floor = f", floor {self.floor:g}" if self.floor is not None else ""
        return (f"{verdict}: {self.env_id}, {self.episodes} episodes: SNN {self.snn_mean:.1f} "
                f"± {self.snn_ci95:.1f} vs ANN {self.ann_mean:.1f} ± {self.ann_ci95:.1f} "
                f"(mean ± 95% CI) = {self.ratio:.3f} of the ANN (required >= "
                f"{self.min_ratio:g}{floor})")


def ann_of(graph) -> AnnGraph:
    """The ANN a bundle was compiled from (same weights, readout and head)."""
    return AnnGraph(tuple(h.synapse for h in graph.hidden), graph.readout, graph.head,
                    dict(graph.source), graph.input_clip)


def check_deployment(bundle, env_id: str | None = None, min_ratio: float = 0.8,
                     episodes: int = 10, floor: float | None = None, seed: int = 100,
                     backend: str = "emulator", profile: str | None = None,
                     env_kwargs: dict | None = None) -> DeployCheck:
    """The bundle's SNN vs its ANN on the same episodes, in env_id made with env_kwargs
    (default: the env the bundle was compiled for)."""
    from loihi_deploy.api import evaluate_ann, graph_env, run_backend
    graph = load_bundle(bundle)
    env_id, env_kwargs = graph_env(graph, env_id, env_kwargs)
    check_bundle_env(graph, env_spaces(env_id, env_kwargs), str(bundle))
    ann_mean, ann_ci = mean_ci95(evaluate_ann(ann_of(graph), env_id, episodes, seed,
                                              env_kwargs=env_kwargs))
    run = run_backend(graph, env_id, episodes, seed, backend, profile, env_kwargs=env_kwargs)
    snn_mean, snn_ci = mean_ci95(run.returns)
    ratio = snn_mean / ann_mean if ann_mean > 0 else float("nan")
    passed = bool(ratio >= min_ratio and (floor is None or snn_mean >= floor)
                  and all(e is None for e in run.errors))
    return DeployCheck(env_id, episodes, ann_mean, snn_mean, ratio, ann_ci, snn_ci, min_ratio,
                       floor, passed)


def assert_deploys(bundle, **kwargs) -> DeployCheck:
    """check_deployment, raising AssertionError with the summary when it fails."""
    result = check_deployment(bundle, **kwargs)
    assert result.passed, result.summary()
    return result
