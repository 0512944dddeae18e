"""loihi-deploy: compile continuous-control policies into spiking networks for Loihi.

The public API takes what the CLI takes (bundled policy names or files, "crpi:0.6" strings)
and reads the env from the bundle where it can. Each function imports its heavy parts when
called, so `import loihi_deploy` stays light.

    >>> import loihi_deploy
    >>> graph = loihi_deploy.compile("inverted_double_pendulum_v5_td3", timesteps=4,
    ...                              membrane="crpi:0.5", calib_episodes=1, profile="fixed")
    >>> graph.env_id, graph.timesteps, str(graph.membrane), graph.profile
    ('InvertedDoublePendulum-v5', 4, 'crpi:0.5', 'fixed')
    >>> result = loihi_deploy.run(graph, episodes=2)
    >>> len(result.returns), result.backend, result.profile
    (2, 'emulator', 'fixed')

The layers below (docs/architecture.md): cli, api, testing, zoo, demo, deploy_snn, stats in
this package; training/ and studies/ beside them; compiler, sim_backend and runtime below.
"""
from __future__ import annotations

import os

__all__ = ["compile", "load_bundle", "save_bundle", "run", "sweep", "check", "export",
           "policies", "__version__"]


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("loihi-deploy")
        except PackageNotFoundError:
            return "unknown"
    raise AttributeError(f"module 'loihi_deploy' has no attribute {name!r}")


def policies() -> list[str]:
    """Names of the bundled policies (`loihi-deploy policies` shows their returns).

    >>> "halfcheetah_v5_td3" in policies()
    True
    """
    from loihi_deploy.zoo import bundled_policies
    return sorted(bundled_policies())


def compile(policy: str | os.PathLike, env_id: str | None = None, timesteps: int = 8,
            membrane: str = "crpi:0.5", neuron: str = "if", levels: int = 4,
            profile: str = "float", calib_episodes: int | None = None, calib_seed: int = 0,
            calib_method: str | None = None, percentile: float | None = None, output=None,
            progress: bool = False, env_kwargs: dict | None = None):
    """A policy (bundled name, paper actor, SB3 zip or zoo run folder, state dict + sidecar)
    -> SpikingGraph, calibrated in closed loop on env_id made with env_kwargs (gym.make
    keywords; default: the env its metadata names); written as a bundle to `output` if given.
    Defaults as `loihi-deploy compile` (None: api.COMPILE_DEFAULTS)."""
    from loihi_deploy.api import COMPILE_DEFAULTS, compile_policy, load_ann, policy_env
    from loihi_deploy.compiler.bundle import save_bundle as save
    from loihi_deploy.compiler.ir import NeuronModel
    if calib_episodes is None:
        calib_episodes = COMPILE_DEFAULTS.calib_episodes
    if calib_method is None:
        calib_method = COMPILE_DEFAULTS.calib_method
    env_id, env_kwargs = policy_env(policy, env_id, env_kwargs)
    if env_id is None:
        raise ValueError(f"{policy}: no env id given and none in its metadata")
    ann = load_ann(str(policy), env_id, env_kwargs)
    graph = compile_policy(ann, env_id, timesteps, membrane, calib_episodes, calib_seed,
                           calib_method, percentile, profile, progress,
                           NeuronModel.parse(neuron, levels if neuron in ("mt", "dc") else None),
                           env_kwargs)
    if output is not None:
        save(graph, output)
    return graph


def load_bundle(path: str | os.PathLike):
    """A bundle written by `compile` (validated; BundleError naming the file otherwise)."""
    from loihi_deploy.compiler.bundle import load_bundle as load
    return load(path)


def save_bundle(graph, path: str | os.PathLike):
    """Write a SpikingGraph as a bundle (atomically); returns the path."""
    from loihi_deploy.compiler.bundle import save_bundle as save
    return save(graph, path)


def _graph(bundle):
    return load_bundle(bundle) if isinstance(bundle, (str, os.PathLike)) else bundle


def run(bundle, episodes: int = 10, env_id: str | None = None, backend: str = "emulator",
        profile: str | None = None, membrane: str | None = None, seed: int = 100,
        pace: bool = False, progress: bool = False, env_kwargs: dict | None = None):
    """Closed-loop episodes of a bundle (path or SpikingGraph) on the emulator, Lava or Loihi,
    in the env it was compiled for (id and env_kwargs) unless env_id / env_kwargs say
    otherwise. Returns api.BackendRun (per-episode returns, latencies, fixed-point events)."""
    from loihi_deploy.api import run_backend
    from loihi_deploy.compiler.ir import MembranePolicy
    graph = _graph(bundle)
    if membrane is not None:
        graph = graph.replace(membrane=MembranePolicy.parse(membrane))
    return run_backend(graph, env_id, episodes, seed, backend, profile, pace, progress,
                       env_kwargs=env_kwargs)


def sweep(policy: str | os.PathLike, env_id: str | None = None, timesteps: int = 8,
          alphas: str | list = "0:1:0.1", episodes: int = 10, neuron: str = "if",
          levels: int = 4, calib_episodes: int | None = None, seed: int = 100, plot=None,
          progress: bool = False, env_kwargs: dict | None = None,
          test_episodes: int | None = None):
    """ANN vs SNN for every CRPI alpha on the same episodes (alphas: "0:1:0.1", "0,0.5" or a
    list), then the selected alpha (highest mean) with vanilla and the ANN on test_episodes
    fresh episodes (default: as many; 0: none), in .held_out. Returns api.SweepResult; `plot`
    writes return vs alpha as PNG.

    >>> result = sweep("inverted_double_pendulum_v5_td3", timesteps=4, alphas="0,1",
    ...                episodes=2, calib_episodes=1)
    >>> result.alphas, result.snn_returns.shape
    ([0.0, 1.0], (2, 2))
    """
    from loihi_deploy.api import load_ann, parse_alphas, plot_sweep
    from loihi_deploy.api import sweep as run_sweep
    graph = compile(policy, env_id, timesteps, "crpi:0", neuron, levels,
                    calib_episodes=calib_episodes, progress=progress, env_kwargs=env_kwargs)
    alphas = parse_alphas(alphas) if isinstance(alphas, str) else [float(a) for a in alphas]
    result = run_sweep(graph, load_ann(str(policy), graph.env_id, graph.env_kwargs),
                       graph.env_id, alphas, episodes, seed, progress,
                       test_episodes=episodes if test_episodes is None else test_episodes)
    if plot is not None:
        plot_sweep(result, plot)
    return result


def check(bundle, min_ratio: float = 0.8, episodes: int = 10, env_id: str | None = None,
          floor: float | None = None, backend: str = "emulator", profile: str | None = None,
          env_kwargs: dict | None = None):
    """Deployment gate: the bundle's SNN vs the ANN it was compiled from, same episodes.
    Returns testing.DeployCheck (.passed, .summary()); loihi_deploy.testing.assert_deploys
    raises instead."""
    from loihi_deploy.testing import check_deployment
    return check_deployment(bundle, env_id, min_ratio, episodes, floor, backend=backend,
                            profile=profile, env_kwargs=env_kwargs)


def export(bundle, path: str | os.PathLike, format: str = "nir"):
    """Write a bundle (path or SpikingGraph) as NIR or lava-dl netx; returns the path."""
    graph = _graph(bundle)
    if format == "nir":
        from loihi_deploy.compiler.export_nir import export_nir
        return export_nir(graph, path)
    if format == "netx":
        from loihi_deploy.compiler.export_netx import export_netx
        return export_netx(graph, path)
    raise ValueError(f"format must be 'nir' or 'netx', got {format!r}")
