"""`loihi-deploy` command line. Each subcommand is a thin layer over loihi_deploy.api."""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import signal
import sys
import threading

import numpy as np

from loihi_deploy.compiler.limits import MAX_DECISIONS, MAX_EPISODES, MAX_SEED, MAX_TIMESTEPS
from loihi_deploy.options import (add_options, config_from_args, finite_float, int_in,
                                  positive_int)

EPISODES = int_in(1, MAX_EPISODES)
SEED = int_in(0, MAX_SEED - MAX_EPISODES)   # reset seeds SEED, SEED + 1, ... of one run


def _alphas(text: str) -> list[float]:
    from loihi_deploy.api import parse_alphas
    try:
        return parse_alphas(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _membrane(text: str):
    from loihi_deploy.compiler.ir import MembranePolicy
    try:
        return MembranePolicy.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _env_kwargs(text: str) -> dict:
    from loihi_deploy.runtime.envs import parse_env_kwargs
    try:
        return parse_env_kwargs(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _neuron(args):
    """NeuronModel from --neuron / --levels (both validated by the parser)."""
    from loihi_deploy.compiler.ir import NeuronModel
    return NeuronModel(args.neuron, args.levels)


def _bundle_and_env(args):
    """The bundle and the env to run it in (--env / --env-kwargs, else the one it was compiled
    for), checked to fit each other: (graph, env_id, env_kwargs)."""
    from loihi_deploy.api import graph_env
    from loihi_deploy.compiler.bundle import check_bundle_env, load_bundle
    from loihi_deploy.runtime.envs import env_spaces
    graph = load_bundle(args.bundle)
    env_id, env_kwargs = graph_env(graph, args.env, args.env_kwargs)
    check_bundle_env(graph, env_spaces(env_id, env_kwargs), str(args.bundle))
    return graph, env_id, env_kwargs


def _policy_env(args) -> tuple[str, dict]:
    """--env / --env-kwargs, else what the policy's metadata (or zoo run folder) names."""
    from loihi_deploy.api import policy_env
    env_id, env_kwargs = policy_env(args.policy, args.env, args.env_kwargs)
    if env_id is None:
        raise ValueError(f"{args.policy}: no env id in its metadata; pass --env")
    return env_id, env_kwargs


def _cmd_compile(args, argv) -> None:
    from loihi_deploy.compiler.bundle import save_bundle
    from loihi_deploy.compiler.quantize import format_report, quantization_report
    from loihi_deploy.api import compile_policy, load_ann
    from loihi_deploy.runtime.envs import describe_env
    env_id, env_kwargs = _policy_env(args)
    ann = load_ann(args.policy, env_id, env_kwargs)
    graph = compile_policy(ann, env_id, args.timesteps, args.membrane, args.calib_episodes,
                           args.calib_seed, args.calib_method, args.percentile, args.profile,
                           progress=True, neuron=_neuron(args), env_kwargs=env_kwargs,
                           weight_bits=args.weight_bits)
    path = save_bundle(graph, args.output)
    print(f"wrote {path}: {describe_env(env_id, env_kwargs)}, {str(graph.neuron).upper()}, "
          f"T={graph.timesteps}, membrane {graph.membrane}, "
          f"profile {graph.profile}, layers {' -> '.join(map(_layer_text, graph.hidden))}, "
          f"calibrated on {graph.calibration['states']} states")
    if graph.fixed is not None:
        print("Loihi fixed-point quantisation (errors of the dequantised numbers):")
        print(format_report(quantization_report(graph)))


def _layer_text(layer) -> str:
    """'256' for a dense layer, 'conv 16x21x21 (4x4/4)' for a convolution."""
    from loihi_deploy.compiler.ir import Conv2d
    syn = layer.synapse
    if isinstance(syn, Conv2d):
        kh, kw = syn.weight.shape[2:]
        return f"conv {'x'.join(map(str, syn.out_shape))} ({kh}x{kw}/{syn.stride})"
    return str(syn.shape[0])


def _cmd_run(args, argv) -> None:
    from loihi_deploy.api import DEFAULT_EVAL_SEED, run_backend
    from loihi_deploy.stats import mean_ci95
    from loihi_deploy.runtime.envs import describe_env
    graph, env_id, env_kwargs = _bundle_and_env(args)
    if args.membrane is not None:
        graph = graph.replace(membrane=args.membrane)
    seed = DEFAULT_EVAL_SEED if args.seed is None else args.seed
    result = run_backend(graph, env_id, args.episodes, seed, args.backend, args.profile,
                         args.pace, progress=True, nan_policy=args.nan_policy,
                         env_kwargs=env_kwargs)
    failed = [(seed + k, e) for k, e in enumerate(result.errors) if e is not None]
    complete = np.array([e is None for e in result.errors], dtype=bool)
    if result.interrupted:
        print(f"INTERRUPTED after {len(result.errors)} of {args.episodes} episodes; reporting "
              f"those", file=sys.stderr)
    mean, ci = mean_ci95(result.returns[complete]) if complete.any() else (float("nan"),) * 2
    lat_ms = 1e3 * np.asarray(result.latencies_s if result.latencies_s else [np.nan])
    print(f"{describe_env(env_id, env_kwargs)}  {str(graph.neuron).upper()} T={graph.timesteps}"
          f"  membrane {graph.membrane}  profile {result.profile}  backend {args.backend}")
    spread = f"± {ci:.1f} (mean ± 95% CI)" if np.isfinite(ci) else "(one episode: no interval)"
    print(f"return over {int(complete.sum())} complete episodes: {mean:.1f} {spread}")
    for s, error in failed:
        print(f"PARTIAL: episode with reset seed {s} stopped: the env raised at {error}",
              file=sys.stderr)
    if args.backend == "emulator" and not args.pace:
        print(f"time per batched decision ({args.episodes} envs): {lat_ms[0]:.2f} ms")
    else:
        print(f"latency per decision: median {np.median(lat_ms):.2f} ms, p95 "
              f"{np.percentile(lat_ms, 95):.2f} ms, max {lat_ms.max():.2f} ms "
              f"({lat_ms.size} decisions)")
    if result.deadline_misses is not None:
        print(f"real-time pacing at {1e3 * result.period_s:.1f} ms: {result.deadline_misses} "
              f"deadline misses (fallback: hold the previous action)")
    if result.profile == "fixed":
        print(f"fixed point: {result.saturations} saturation events, {result.input_clips} "
              f"clipped observation entries")
    if args.json:
        _write_json(args.json, {"bundle": str(args.bundle), "env_id": env_id,
                                "env_kwargs": env_kwargs, "membrane": str(graph.membrane),
                                "timesteps": graph.timesteps,
                                "backend": args.backend, "profile": result.profile,
                                "mean": mean, "ci95": ci, "returns": result.returns.tolist(),
                                "latency_ms": lat_ms.round(3).tolist(),
                                "deadline_misses": result.deadline_misses,
                                "saturations": result.saturations,
                                "input_clips": result.input_clips,
                                "episode_errors": result.errors,
                                "interrupted": result.interrupted})
    if result.interrupted:
        raise KeyboardInterrupt
    if failed:
        raise SystemExit(3)


def _cmd_verify(args, argv) -> None:
    from loihi_deploy.api import DEFAULT_EVAL_SEED, verify_on_lava
    graph, env_id, env_kwargs = _bundle_and_env(args)
    seed = DEFAULT_EVAL_SEED if args.seed is None else args.seed
    v = verify_on_lava(graph, env_id, args.decisions, seed, args.profile, progress=True,
                       netx=args.netx, env_kwargs=env_kwargs)
    what = f"netx file {args.netx} read by lava-dl" if args.netx else "Lava (Loihi2SimCfg)"
    print(f"{env_id}  {str(graph.neuron).upper()} T={graph.timesteps}  membrane "
          f"{graph.membrane}  profile {v.profile}: {v.decisions} decisions, {what} vs emulator")
    print(f"actions identical: {v.identical} (max |diff| {v.max_abs_diff:.3g}"
          + (f", first at decision {v.first_difference})" if v.first_difference is not None
             else ")"))
    print(f"episode return: Lava {v.lava_return:.2f}, emulator {v.emulator_return:.2f}; Lava "
          f"median latency {v.lava_latency_ms_median:.1f} ms per decision")
    if not v.identical:
        raise SystemExit(1)


def _cmd_inspect(args, argv) -> None:
    from loihi_deploy.compiler.bundle import load_bundle
    from loihi_deploy.compiler.hardware import CHIPS, format_energy, format_mapping, map_graph
    from loihi_deploy.compiler.quantize import format_report, quantization_report
    graph = load_bundle(args.bundle)
    mappings = [map_graph(graph, chip) for chip in CHIPS]
    energy, how = None, ""
    if args.energy_episodes:
        from loihi_deploy.api import DEFAULT_EVAL_SEED, measure_decision_cost
        from loihi_deploy.compiler.bundle import check_bundle_env
        from loihi_deploy.runtime.closed_loop import episode_seeds
        from loihi_deploy.runtime.envs import env_spaces
        check_bundle_env(graph, env_spaces(graph.env_id, graph.env_kwargs), str(args.bundle))
        seeds = episode_seeds(DEFAULT_EVAL_SEED, args.energy_episodes)
        energy, decisions = measure_decision_cost(graph, seeds)
        how = (f"on the emulator ({graph.profile} profile) over {decisions} decisions of "
               f"{len(seeds)} episode(s) (seeds {seeds[0]}..{seeds[-1]})")
    if args.json:
        info = {"bundle": str(args.bundle), "env_id": graph.env_id,
                "env_kwargs": graph.env_kwargs, "neuron": str(graph.neuron),
                "timesteps": graph.timesteps, "membrane": str(graph.membrane),
                "profile": graph.profile, "source": graph.source,
                "layers": [h.synapse.shape[0] for h in graph.hidden],
                "quantisation": [vars(r) for r in quantization_report(graph)]
                if graph.fixed is not None else None,
                "mapping": [m.to_json() for m in mappings],
                "energy_per_decision": None if energy is None else
                {**dataclasses.asdict(energy), "counted": how}}
        print(json.dumps(info, indent=1, default=str))
        return
    from loihi_deploy.runtime.envs import describe_env
    print(f"{args.bundle}: {describe_env(graph.env_id, graph.env_kwargs)}, "
          f"{str(graph.neuron).upper()} neurons, T={graph.timesteps}, "
          f"membrane {graph.membrane}, profile {graph.profile}")
    print(f"network: {graph.obs_dim} -> "
          f"{' -> '.join(map(_layer_text, graph.hidden))} -> {graph.act_dim}; "
          f"source {graph.source.get('kind', '?')} sha256 {str(graph.source.get('sha256'))[:12]}")
    if graph.fixed is not None:
        print(format_report(quantization_report(graph)))
    for m in mappings:
        print(format_mapping(m))
    if energy is not None:
        print(format_energy(energy, how))


def _cmd_export(args, argv) -> None:
    from loihi_deploy.compiler.bundle import load_bundle
    from loihi_deploy.compiler.export_nir import export_nir, not_expressible
    graph = load_bundle(args.bundle)
    if args.format == "netx":
        from loihi_deploy.compiler.export_netx import export_netx
        try:
            path = export_netx(graph, args.output)
        except ValueError as exc:          # the reasons it cannot, one per line
            raise ValueError(f"{args.bundle}: {exc}") from None
        print(f"wrote {path} (lava-dl netx: {len(graph.hidden)} CUBA layers + readout "
              f"integrator, fixed point); run it with hdf5.Network(..., input_message_bits="
              f"{graph.fixed.input_bits}, reset_interval={graph.timesteps + len(graph.hidden) + 1}"
              f", reset_offset=1), or `loihi-deploy verify {args.bundle} --netx {path}`")
        return
    path = export_nir(graph, args.output)
    print(f"wrote {path} (NIR graph of the float profile, thresholds normalised to 1, "
          f"docs/nir.md)")
    print("not expressible in NIR, recorded in the graph's metadata:\n  - "
          + "\n  - ".join(not_expressible(graph)))


def _cmd_check(args, argv) -> None:
    from loihi_deploy.testing import check_deployment
    result = check_deployment(args.bundle, args.env, args.min_ratio, args.episodes, args.floor,
                              backend=args.backend, profile=args.profile,
                              env_kwargs=args.env_kwargs)
    print(result.summary())
    if not result.passed:
        raise SystemExit(1)


def _cmd_sweep(args, argv) -> None:
    from loihi_deploy.compiler.ir import MembranePolicy
    from loihi_deploy.api import (compile_policy, format_sweep_table, load_ann, plot_sweep,
                                  sweep)
    from loihi_deploy.runtime.closed_loop import default_workers
    env_id, env_kwargs = _policy_env(args)
    ann = load_ann(args.policy, env_id, env_kwargs)
    graph = compile_policy(ann, env_id, args.timesteps,
                           MembranePolicy("crpi", 0.0, args.crpi_clip), args.calib_episodes,
                           args.calib_seed, args.calib_method, args.percentile, progress=True,
                           neuron=_neuron(args), env_kwargs=env_kwargs)
    test_episodes = args.episodes if args.test_episodes is None else args.test_episodes
    result = sweep(graph, ann, env_id, args.alphas, args.episodes, args.seed, progress=True,
                   workers=args.workers, ray_address=args.ray, env_kwargs=env_kwargs,
                   test_episodes=test_episodes, precision=args.precision)
    print(format_sweep_table(result))
    if args.json:
        _write_json(args.json, {**result.to_json(), "policy": args.policy,
                                "workers": args.workers or default_workers(),
                                "calibration": graph.calibration})
    if args.plot:
        plot_sweep(result, args.plot)
        print(f"wrote {args.plot}")


def _cmd_train(args, argv) -> None:
    from loihi_deploy.training.configs import TrainConfig
    from loihi_deploy.training.train import train
    train(config_from_args(TrainConfig, args), argv)


def _cmd_distill(args, argv) -> None:
    from loihi_deploy.training.configs import DistillConfig
    from loihi_deploy.training.distill import distill
    distill(config_from_args(DistillConfig, args), argv)


def _cmd_train_snn(args, argv) -> None:
    from loihi_deploy.training.configs import SNNTrainConfig
    from loihi_deploy.training.snn.predictive import train_snn
    cfg = config_from_args(SNNTrainConfig, args)
    out = train_snn(cfg, argv)
    model = "" if cfg.teacher else " model.pt,"
    print(f"wrote {out}/policy.pt,{model} metrics.json, learning_curves.png")


def _cmd_deploy_snn(args, argv) -> None:
    from loihi_deploy.deploy_snn import deploy_trained, format_report, write_report
    report = deploy_trained(args.run_dir, args.episodes, args.lava_episodes,
                            weight_bits=args.weight_bits)
    report["command"] = " ".join(["loihi-deploy", *argv])
    print(format_report(report))
    if args.out:
        print(f"wrote {write_report(report, args.out)}")


def _cmd_policies(args, argv) -> None:
    from loihi_deploy.zoo import bundled_policies
    zoo = bundled_policies()
    if not zoo:
        print("no bundled policies")
        return
    print(f"{'name':<40}{'env':<32}{'algo':<8}{'steps':>9}{'return: mean ± std':>22}")
    for name, meta in zoo.items():
        ev = meta["evaluation"]
        steps = meta.get("steps", meta.get("frames", "?"))   # distilled: labelled frames
        note = f"  (expert {meta['expert']}: {meta['expert_evaluation']['mean']:.1f})" \
            if "expert" in meta else ""
        print(f"{name:<40}{meta['env_id']:<32}{meta['algo']:<8}{steps:>9}"
              f"{ev['mean']:>13.1f} ± {ev['std']:<7.1f}{note}")
    print("(recorded over 20 episodes, reset seeds 10000.., on the training machine; float "
          "rollouts differ between CPUs: docs/reproducibility.md)")
    from loihi_deploy.training.snn.runs import BUNDLED, bundled_trained_runs
    from loihi_deploy.stats import success_ci95
    print(f"\ncontrollers trained by train-snn (predictive control, or imitation of a teacher; "
          f"the spiking ones deploy with loihi-deploy deploy-snn NAME):\n{'name':<16}"
          f"{'task':<10}{'model':<7}{'iterations':>11}{'episodes':>9}{'success [95% CI]':>19}"
          f"{'final distance':>16}  trained by")
    for name in bundled_trained_runs():
        result = json.loads((BUNDLED / name / "metrics.json").read_text())
        # the final 50-episode evaluation where the run has one, else the last iteration's
        if "evaluation" in result:
            final, episodes = result["evaluation"], result["evaluation"]["episodes"]
        else:
            final, episodes = result["final"], result["config"].get("eval_episodes", 20)
        low, high = success_ci95(round(final["success_rate"] * episodes), episodes)
        print(f"{name:<16}{result['config']['task']:<10}{result['config']['model']:<7}"
              f"{result['final']['iteration']:>11}{episodes:>9}"
              f"{final['success_rate']:>7.0%} [{low:.0%}, {high:.0%}]".ljust(62) +
              f"{final['final_distance']:>8.3f} m  " +
              (f"imitating {result['config']['teacher']}" if result["config"].get("teacher")
               else "predictive control") +
              (", observation change as inputs" if result["config"].get("input_change")
               else ""))


def _cmd_bench(args, argv) -> None:
    from loihi_deploy.studies.bench import PARTS, run_bench
    parts = [p.strip() for p in args.parts.split(",") if p.strip()] \
        if args.parts is not None else PARTS
    if not parts:
        raise ValueError("--parts: an empty list; name one or more parts, or leave --parts out "
                         "to run them all")
    run_bench(args.out, args.quick, parts, args.episodes, args.workers, args.resume,
              command="loihi-deploy " + " ".join(a for a in argv if a != "--quick"),
              ray_address=args.ray,
              pixel_policies=args.pixel_policies.split(",") if args.pixel_policies else None,
              pacing_policies=args.pacing_policies.split(",") if args.pacing_policies else None)


def _cmd_setup_lava(args, argv) -> None:
    from loihi_deploy.setup_lava import setup_lava
    setup_lava(args.constraints, args.dry_run)


def _cmd_demo(args, argv) -> None:
    from loihi_deploy.demo import run_demo
    run_demo(args.out, args.timesteps, args.episodes)


def _write_json(path, obj) -> None:
    from loihi_deploy.compiler.files import atomic_write_text, strict_json
    print(f"wrote {atomic_write_text(path, strict_json(obj))}")


def _add_compile_options(p) -> None:
    from loihi_deploy.api import CompileOptions
    p.add_argument("policy", help="bundled policy name (see `loihi-deploy policies`), a paper "
                                  "actor .pt, an SB3 .zip (VecNormalize statistics beside it "
                                  "are folded in), an rl-baselines3-zoo run folder, or a "
                                  "policy .pt with its .json")
    p.add_argument("--env", help="gymnasium id, e.g. HalfCheetah-v5 (default: the one the "
                                 "policy's metadata or zoo run folder names)")
    p.add_argument("--env-kwargs", type=_env_kwargs, metavar="JSON",
                   help="gymnasium keyword arguments of the env, as a JSON object, e.g. "
                        "'{\"include_cfrc_ext_in_observation\": false}' for Ant-v5 without "
                        "contact forces (default: the policy metadata's, else none); stored "
                        "in the bundle")
    add_options(p, CompileOptions)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("loihi-deploy")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    from loihi_deploy.training.configs import DistillConfig, SNNTrainConfig, TrainConfig
    parser = argparse.ArgumentParser(
        prog="loihi-deploy",
        description="Compile continuous-control policies into spiking networks for Loihi "
                    "(IF, SNM, MT or DC neurons, CRPI membrane policy) and run them in "
                    "closed loop in MuJoCo.")
    parser.add_argument("--version", action="version",
                        version=f"loihi-deploy {_version()} (Python {sys.version.split()[0]})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("compile", help="calibrate and convert a policy into a bundle (HDF5)")
    _add_compile_options(p)
    p.add_argument("--membrane", type=_membrane, default=_membrane("crpi:0.5"),
                   help="vanilla | free | crpi:ALPHA (default crpi:0.5)")
    p.add_argument("--profile", choices=["float", "fixed"], default="float",
                   help="numeric profile: float, or Loihi fixed point (8-bit synaptic weights "
                        "in stock Dense processes, see --weight-bits; 24-bit state) in "
                        "addition to float (default float)")
    p.add_argument("--weight-bits", type=int, choices=[8, 16],
                   help="fixed point: 16 splits each dense layer's weights into a high and a "
                        "low byte, two stock 8-bit Dense processes summed by the neuron (2x "
                        "synapses, about 1/128 of the weight rounding error); 8: one Dense per "
                        "layer (default 16; 8 for --neuron cuba, netx's stock profile; "
                        "docs/fixed_point.md)")
    p.add_argument("-o", "--output", required=True, help="bundle path (.h5)")
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser("run", help="run a compiled bundle in closed loop")
    p.add_argument("bundle")
    p.add_argument("--env", help="env id (default: the one the bundle was compiled for)")
    p.add_argument("--env-kwargs", type=_env_kwargs, metavar="JSON",
                   help="gymnasium keyword arguments of the env, as a JSON object, e.g. "
                        "'{\"include_cfrc_ext_in_observation\": false}' (default: the "
                        "bundle's)")
    p.add_argument("--episodes", type=EPISODES, default=10)
    p.add_argument("--seed", type=SEED, help="first episode reset seed (default 100)")
    p.add_argument("--membrane", type=_membrane, help="override the bundle's membrane policy")
    p.add_argument("--backend", choices=["emulator", "lava", "loihi"], default="emulator",
                   help="emulator (batched numpy), lava (Lava CPU simulation, Loihi2SimCfg), "
                        "loihi (needs lava-loihi and a board) (default emulator)")
    p.add_argument("--profile", choices=["float", "fixed"],
                   help="numeric profile to run (default: the bundle's)")
    p.add_argument("--pace", action="store_true",
                   help="real time: one decision per env control period, deadline misses "
                        "counted; a late decision holds the previous action")
    p.add_argument("--nan-policy", choices=["raise", "zero"], default="raise",
                   help="a NaN/Inf observation stops the run (raise, default) or is replaced "
                        "by 0 (zero)")
    p.add_argument("--json", help="write per-episode returns and latencies as JSON (episodes "
                                  "whose env failed are kept, marked in episode_errors)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("verify", help="run one episode on Lava and on the emulator and check "
                                      "that their actions are identical")
    p.add_argument("bundle")
    p.add_argument("--env", help="env id (default: the one the bundle was compiled for)")
    p.add_argument("--env-kwargs", type=_env_kwargs, metavar="JSON",
                   help="gymnasium keyword arguments of the env, as a JSON object, e.g. "
                        "'{\"include_cfrc_ext_in_observation\": false}' (default: the "
                        "bundle's)")
    p.add_argument("--decisions", type=int_in(1, MAX_DECISIONS), default=200)
    p.add_argument("--seed", type=SEED, help="episode reset seed (default 100)")
    p.add_argument("--profile", choices=["float", "fixed"],
                   help="numeric profile (default: the bundle's)")
    p.add_argument("--netx", help="a netx file exported from this bundle: run it through "
                                  "lava-dl's own reader instead (fixed point)")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("inspect", help="describe a bundle: network, quantisation, Loihi 1/2 "
                                       "mapping (cores, synapses, fit, latency estimate), "
                                       "energy estimate per decision")
    p.add_argument("bundle")
    p.add_argument("--energy-episodes", type=int_in(0, MAX_EPISODES), default=1, metavar="N",
                   help="closed-loop episodes on the emulator whose events and synaptic ops "
                        "give the energy estimate (default 1; 0: skip it)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("export", help="export a bundle to NIR, or to lava-dl netx HDF5 (stock "
                                      "Loihi neurons: compile with --neuron cuba --profile fixed)")
    p.add_argument("bundle")
    p.add_argument("--format", choices=["nir", "netx"], default="nir")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("check", help="deployment gate for CI: exit 1 when the spiking policy's "
                                     "return is below MIN_RATIO x the ANN's (or below --floor)")
    p.add_argument("bundle")
    p.add_argument("--env", help="env id (default: the one the bundle was compiled for)")
    p.add_argument("--env-kwargs", type=_env_kwargs, metavar="JSON",
                   help="gymnasium keyword arguments of the env, as a JSON object, e.g. "
                        "'{\"include_cfrc_ext_in_observation\": false}' (default: the "
                        "bundle's)")
    p.add_argument("--min-ratio", type=finite_float, default=0.8)
    p.add_argument("--floor", type=finite_float, help="absolute minimum mean return")
    p.add_argument("--episodes", type=EPISODES, default=10)
    p.add_argument("--backend", choices=["emulator", "lava"], default="emulator")
    p.add_argument("--profile", choices=["float", "fixed"])
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("sweep", help="ANN vs SNN for a grid of CRPI alphas (0 = vanilla)")
    _add_compile_options(p)
    p.add_argument("--alphas", type=_alphas, default="0:1:0.1",
                   help="START:STOP:STEP or a comma list (default 0:1:0.1)")
    p.add_argument("--episodes", type=EPISODES, default=10,
                   help="selection episodes per alpha (default 10)")
    p.add_argument("--test-episodes", type=int_in(0, MAX_EPISODES),
                   help="fresh episodes (reset seeds from SEED + 10000) on which the selected "
                        "alpha, vanilla and the ANN are run again and reported (default: as "
                        "many as --episodes; 0: none)")
    p.add_argument("--seed", type=SEED, default=100, help="first episode reset seed")
    p.add_argument("--precision", choices=["float64", "float32"], default="float64",
                   help="emulator float precision: float64 (the reference) or float32 (the "
                        "paper's torch code's; about 1.5x faster, docs/performance.md)")
    p.add_argument("--crpi-clip", type=float, default=None,
                   help="CRPI clip radius in event units (default: the neuron's, 0.5 for IF "
                        "and SNM = theta/2, 0.75 for MT and DC = 0.75 of the smallest level)")
    p.add_argument("--workers", type=positive_int,
                   help="processes the episodes are split across (default: one per core). "
                        "Fixed point gives identical results for any value; float results "
                        "depend on it through BLAS summation order (chaotic tasks amplify it)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run the sweep's episodes on a Ray cluster: 'auto', HOST:PORT, or "
                        "'local' (Ray's local mode); needs the cluster extra (ray)")
    p.add_argument("--json", help="write per-episode returns as JSON")
    p.add_argument("--plot", help="write a PNG of return vs alpha")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("bench", help="benchmarks and analysis (conversion study, CRPI clip, "
                                     "error amplification, cost, fidelity, simulator speed) "
                                     "into docs/results/ as tables, JSON and figures")
    p.add_argument("--quick", action="store_true",
                   help="a few minutes: one bundled policy, 4 configs, 3 alphas, 5 episodes "
                        "(files prefixed quick_)")
    p.add_argument("--parts", help="comma list of conversion, crpi_clip, amplification, cost, "
                                   "fidelity, simulator, pixels, nir, calibration, pacing, "
                                   "snn_speed "
                                   "(default all)")
    p.add_argument("--pixel-policies", metavar="NAMES",
                   help="pixels part: comma list of bundled pixel policies (default all)")
    p.add_argument("--pacing-policies", metavar="NAMES",
                   help="pacing part: comma list of bundled state policies (default "
                        "hopper_v5_td3, walker2d_v5_td3, halfcheetah_v5_td3, ant_v5_td3)")
    p.add_argument("--out", default="docs/results", help="output folder (default docs/results)")
    p.add_argument("--episodes", type=EPISODES, help="episodes per cell (default 30; quick 5)")
    p.add_argument("--workers", type=positive_int, help="processes (default: one per core)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run the sweep's episodes on a Ray cluster: 'auto', HOST:PORT, or "
                        "'local' (Ray's local mode); needs the cluster extra (ray)")
    p.add_argument("--resume", action="store_true",
                   help="keep rows already in OUT/<part>.json (same settings) and run the rest")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("train-snn", help="train a spiking (or GRU) controller end to end by "
                                         "predictive control: forward model + policy through it")
    add_options(p, SNNTrainConfig)
    p.set_defaults(func=_cmd_train_snn)

    p = sub.add_parser("deploy-snn", help="compile a trained spiking controller (train-snn "
                                          "--model snn) to Loihi fixed point and run it in "
                                          "closed loop: torch, emulator float/fixed, Lava")
    p.add_argument("run_dir", help="train-snn output folder (policy.pt, metrics.json) or a "
                                   "bundled run: reach2d_snn, panda_snn")
    p.add_argument("--episodes", type=EPISODES, default=20,
                   help="evaluation episodes (the training run's evaluation seeds) (20)")
    p.add_argument("--lava-episodes", type=int_in(0, MAX_EPISODES), default=20,
                   help="of those, how many also run on Lava fixed_pt, 0 = skip (20)")
    p.add_argument("--weight-bits", type=int, choices=[8, 16], default=16,
                   help="fixed-point weights: 16 = each layer's weights split across two stock "
                        "Dense processes (high and low byte), 8 = one Dense per layer (16)")
    p.add_argument("--out", help="also write the report as JSON here")
    p.set_defaults(func=_cmd_deploy_snn)

    p = sub.add_parser("train", help="train a ReLU TD3/SAC policy (Stable-Baselines3), "
                                     "checkpointed and resumable, and export its actor")
    add_options(p, TrainConfig)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("distill", help="distil a state-based expert into a convolutional pixel "
                                       "policy (DAgger on rendered frames), resumable")
    add_options(p, DistillConfig)
    p.set_defaults(func=_cmd_distill)

    p = sub.add_parser("policies", help="list the bundled policies and their recorded return")
    p.set_defaults(func=_cmd_policies)

    p = sub.add_parser("setup-lava", help="install lava-nc 0.10 / lava-dl 0.6 into this Python "
                                          "environment and patch them for Python 3.11")
    p.add_argument("--constraints", help="a pip constraints file for their dependencies")
    p.add_argument("--dry-run", action="store_true", help="print the pip commands only")
    p.set_defaults(func=_cmd_setup_lava)

    p = sub.add_parser("demo", help="the main job: bundled HalfCheetah policy, ANN vs vanilla "
                                    "SNN vs CRPI, with a plot")
    p.add_argument("--out", default="out/demo")
    p.add_argument("-T", "--timesteps", type=int_in(1, MAX_TIMESTEPS), default=16)
    p.add_argument("--episodes", type=EPISODES, default=30, help="episodes per alpha")
    p.set_defaults(func=_cmd_demo)
    return parser


GRACE_S = 12.0  # after SIGINT/SIGTERM, the orderly shutdown's time before a hard exit
_hard_exit: list[threading.Timer] = []


def _terminate(signum, frame):
    """First SIGINT/SIGTERM: stop every run loop at its next decision and unwind (controllers
    close, Lava stops); if that has not ended the process within GRACE_S, or a second signal
    comes, exit at once (runtime.lava_reaper then removes Lava's processes and segments)."""
    import os

    from loihi_deploy.runtime.closed_loop import STOP
    code = 128 + signum if signum != signal.SIGINT else 130
    if STOP.is_set():
        os._exit(code)
    STOP.set()
    timer = threading.Timer(GRACE_S, lambda: (sys.stderr.write(
        f"loihi-deploy: shutdown took over {GRACE_S:g} s; exiting\n"), os._exit(code)))
    timer.daemon = True
    timer.start()
    _hard_exit.append(timer)
    raise KeyboardInterrupt(f"signal {signum}")


OUTPUT_ARGS = ("output", "json", "out", "plot")    # files (or folders) a command writes
FOLDER_OUTPUTS = ("bench", "demo", "train-snn")     # commands whose --out is a folder
INPUT_ARGS = ("policy", "bundle", "netx", "run_dir", "expert", "init_from", "teacher")
SIDECAR_INPUTS = ("policy", "expert")     # a policy .pt's metadata is the .json beside it
WORK_FOLDERS = {"train": "run_dir", "distill": "run_dir"}   # inputs the command writes into


def _check_outputs(args) -> None:
    """Before any work, ValueError naming them: an output that is one of the command's
    inputs, a file of an input folder, an input's .json sidecar (`export b.h5 -o b.h5`
    replaced the bundle with a netx file, `sweep p.pt --json p.json` a policy's metadata) or
    a bundled policy; two outputs on one path; an output that is a FIFO or device (checked
    again when written)."""
    import os

    from loihi_deploy.zoo import POLICY_DIR
    paths = lambda names: [getattr(args, n) for n in names  # noqa: E731
                           if isinstance(getattr(args, n, None), str) and getattr(args, n)]
    if args.command in FOLDER_OUTPUTS and isinstance(getattr(args, "out", None), str) and \
            os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out}: is a file or device; {args.command} writes into a "
                         f"folder")
    work = WORK_FOLDERS.get(args.command)
    inputs = [pathlib.Path(p).resolve() for n in INPUT_ARGS if n != work for p in paths([n])]
    sidecars = [pathlib.Path(p).resolve().with_suffix(".json") for p in paths(SIDECAR_INPUTS)]
    outputs = [pathlib.Path(p).resolve() for p in paths(OUTPUT_ARGS)]
    for output, given in zip(outputs, paths(OUTPUT_ARGS)):
        if output.exists() and not (output.is_file() or output.is_dir()):
            raise ValueError(f"{given}: is not a regular file (a FIFO, socket or device); "
                             f"write the output to a file path")
        if outputs.count(output) > 1:
            raise ValueError(f"{given}: named for two outputs; give each its own path")
        for source in inputs + sidecars:
            taken = output == source or (source.is_dir() and source in output.parents)
            if taken:
                raise ValueError(f"{given}: would overwrite this command's input {source} "
                                 f"(or a file of it); write the output elsewhere")
        if POLICY_DIR.resolve() in output.parents or output == POLICY_DIR.resolve():
            raise ValueError(f"{given}: is inside loihi-deploy's bundled policies "
                             f"({POLICY_DIR}); write the output elsewhere")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    from loihi_deploy.runtime.closed_loop import STOP
    STOP.clear()
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        _check_outputs(args)
        args.func(args, argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        print(f"loihi-deploy {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        while _hard_exit:          # the orderly shutdown finished in time
            _hard_exit.pop().cancel()
    return 0


if __name__ == "__main__":
    sys.exit(main())
