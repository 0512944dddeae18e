"""Deploy a directly trained SNN (`loihi-deploy train-snn --model snn`) through the compiler and
run it in closed loop on its reaching task: `loihi-deploy deploy-snn RUN_DIR`.

    load_trained_snn (compiler.frontend)  -> TrainedSpikingGraph, float
    calibrate: CALIBRATION_EPISODES float-emulator episodes on their own seeds -> the largest
               |input| per dimension (the controller inputs, with the change if trained so)
    quantize_trained (compiler.quantize)  -> + Loihi fixed-point profile
    evaluate on the training run's evaluation seeds, every row the same episodes:
        torch         the trained network itself (loihi_deploy.training.snn.layers)
        emulator      float and fixed point (sim_backend.emulator.TrainedEmulator)
        lava          fixed point, Lava's CPU simulation (runtime.lava_bridge.LavaController),
                      episode by episode, actions compared with the fixed emulator's
Fidelity, open loop (closed-loop trajectories of a spiking controller part ways after one
flipped spike): the fixed-point emulator replays the float emulator's inputs (action RMSE and
max |diff| against the float actions), the float emulator replays the torch network's (max
|diff|: float64 vs torch's float32).
"""
from __future__ import annotations

import pathlib
import sys
import time

import numpy as np

from loihi_deploy.training.snn.predictive import (EVAL_SEED, TorchController, parameter_count,
                                                  policy_controller, reaching_metrics, rollout)
from loihi_deploy.training.snn.runs import load_policy, resolve_run
from loihi_deploy.training.snn.tasks import (controller_inputs, encoded_controller,
                                             policy_input_dim, task_type)

CALIBRATION_SEED, CALIBRATION_EPISODES = 20_000, 10


def replay_actions(controller, inputs: np.ndarray) -> np.ndarray:
    """Open loop: the controller's actions (E, L, a) for recorded inputs (E, L, d)."""
    controller.reset()
    return np.stack([controller.act(inputs[:, t]) for t in range(inputs.shape[1])], axis=1)


def _torch_vs_emulator(policy, emulator, torch_run: dict, input_change: bool) -> dict:
    """The float emulator replaying the torch run's inputs (open loop), against the torch
    network in float32 (as trained: a spike can flip where the emulator's float64 membrane
    sits on the other side of the threshold) and in float64 (the same arithmetic as the
    emulator: the dynamics check). Max |action difference| of each."""
    import copy

    import torch
    inputs = controller_inputs(torch_run, input_change)
    emulated = replay_actions(emulator, inputs)
    exact = replay_actions(TorchController(copy.deepcopy(policy).to(torch.float64), len(inputs)),
                           inputs)
    return {"torch_vs_float_emulator_max_abs_diff":
            float(np.abs(emulated - torch_run["act"]).max()),
            "torch_float64_vs_float_emulator_max_abs_diff": float(np.abs(emulated - exact).max())}


def deploy_trained(run_dir: str | pathlib.Path, episodes: int = 20,
                   lava_episodes: int = 20, progress: bool = True,
                   weight_bits: int = 16) -> dict:
    """Compile, quantise (weights of weight_bits: 16 split across two Dense processes per
    layer, 8 one) and evaluate (module docstring). Returns the report dict."""
    from tqdm.auto import tqdm

    from loihi_deploy.compiler.frontend import load_trained_snn
    from loihi_deploy.compiler.quantize import quantize_trained
    from loihi_deploy.sim_backend.emulator import TrainedEmulator

    run_dir = resolve_run(run_dir)
    graph = load_trained_snn(run_dir)
    policy, config = load_policy(run_dir)
    task, change = graph.task, config["input_change"]
    env = task_type(task)
    if graph.obs_dim != policy_input_dim(task, change) or graph.act_dim != env.act_dim:
        raise ValueError(f"{run_dir}: the policy takes {graph.obs_dim} inputs and gives "
                         f"{graph.act_dim} actions; task {task!r} has "
                         f"{policy_input_dim(task, change)} inputs (input_change={change}) "
                         f"and {env.act_dim} actions")

    def emulator(graph, batch, profile):     # inputs encoded as the policy was trained
        return encoded_controller(TrainedEmulator(graph, batch, profile), task, change)

    seeds = np.arange(EVAL_SEED, EVAL_SEED + episodes)
    calibration = rollout(emulator(graph, CALIBRATION_EPISODES, "float"), task,
                          np.arange(CALIBRATION_SEED, CALIBRATION_SEED + CALIBRATION_EPISODES))
    absmax = np.abs(controller_inputs(calibration, change)).reshape(-1, graph.obs_dim).max(axis=0)
    try:
        fixed_graph = quantize_trained(graph, absmax, weight_bits=weight_bits)
    except ValueError as exc:
        raise ValueError(f"{run_dir / 'policy.pt'}: {exc}") from None

    rows, timings = {}, {}
    data = {}
    for name, controller in (("torch", policy_controller(policy, episodes, task, change)),
                             ("emulator float", emulator(fixed_graph, episodes, "float")),
                             ("emulator fixed", emulator(fixed_graph, episodes, "fixed"))):
        start = time.perf_counter()
        data[name] = rollout(controller, task, seeds)
        timings[name] = time.perf_counter() - start
        rows[name] = {"episodes": episodes, **reaching_metrics(data[name]["distance"], task)}
        rows[name]["cumulative_distance_per_episode"] = \
            data[name]["distance"].sum(axis=1).round(6).tolist()
        if name == "emulator fixed":
            rows[name]["saturations"], rows[name]["input_clips"] = \
                controller.fixed_point_events()
            saturations_per_episode = controller.saturations.copy()
        if name == "emulator float":
            counts = controller.spike_counts
            rows[name]["spikes_per_neuron_per_step"] = [
                float(c.sum() / (c.size * data[name]["act"].shape[1])) for c in counts]

    replay = replay_actions(TrainedEmulator(fixed_graph, episodes, "fixed"),
                            controller_inputs(data["emulator float"], change))
    diff = replay - data["emulator float"]["act"]
    fidelity = {"action_rmse": float(np.sqrt(np.mean(diff ** 2))),
                "action_max_abs_diff": float(np.abs(diff).max()),
                **_torch_vs_emulator(policy, TrainedEmulator(fixed_graph, episodes, "float"),
                                     data["torch"], change)}

    lava = None
    if lava_episodes > episodes:
        print(f"deploy-snn: --lava-episodes {lava_episodes} is more than --episodes {episodes};"
              f" Lava runs those {episodes}", file=sys.stderr)
    if lava_episodes > 0:
        lava = _run_lava(fixed_graph, task, change, seeds[:lava_episodes],
                         data["emulator fixed"]["act"][:lava_episodes],
                         int(saturations_per_episode[:lava_episodes].sum()), progress, tqdm)
        rows["lava fixed"] = {"episodes": lava["episodes"], **lava.pop("metrics")}
    layers = [layer.synapse.shape for layer in graph.layers]
    return {"run_dir": str(run_dir), "task": task, "episodes": episodes,
            "eval_seeds": [int(seeds[0]), int(seeds[-1])],
            "network": {"inputs": graph.obs_dim, "input_change": change,
                        "layers": [s[0] for s in layers],
                        "actions": graph.act_dim, "substeps": graph.substeps,
                        "trained_parameters": parameter_count(policy),
                        "deployed_synapses": int(sum(s[0] * s[1] for s in layers)
                                                 + graph.act_dim * layers[-1][0]),
                        "input_bits": fixed_graph.fixed.input_bits,
                        "weight_bits": weight_bits,
                        "dense_processes": sum(len(q.dense_parts) for q in
                                               (*fixed_graph.fixed.layers,
                                                fixed_graph.fixed.readout)),
                        "weight_exps": [q.weight_exp for q in fixed_graph.fixed.layers]},
            "rows": rows, "fidelity": fidelity, "lava": lava,
            "seconds": {k: round(v, 2) for k, v in timings.items()}}


def _run_lava(graph, task: str, input_change: bool, seeds: np.ndarray,
              emulator_actions: np.ndarray,
              emulator_saturations: int, progress: bool, tqdm) -> dict:
    """Lava fixed point, one episode per seed (batch 1), against the emulator's actions and
    its saturation count on the same episodes."""
    from loihi_deploy.runtime.lava_bridge import LavaController
    distances, max_diff = [], 0.0
    start = time.perf_counter()
    with LavaController(graph, "fixed") as lava:
        for i, seed in enumerate(tqdm(seeds, desc="lava fixed_pt", unit="episode",
                                      disable=not progress)):
            data = rollout(encoded_controller(lava, task, input_change), task, [seed])
            distances.append(data["distance"][0])
            max_diff = max(max_diff, float(np.abs(data["act"][0] - emulator_actions[i]).max()))
        saturations = lava.fixed_point_events()[0]     # counted since Lava started
        latency = float(np.median(lava.latencies_s))
    metrics = reaching_metrics(np.array(distances), task)
    metrics["saturations"] = saturations
    return {"metrics": metrics, "episodes": len(seeds), "max_abs_diff_vs_emulator": max_diff,
            "actions_identical": max_diff == 0.0,
            "saturations_identical": saturations == emulator_saturations,
            "median_latency_ms": 1e3 * latency,
            "seconds": round(time.perf_counter() - start, 1)}


def format_report(report: dict) -> str:
    net = report["network"]
    lines = [f"{report['run_dir']}: task {report['task']}, {report['episodes']} episodes "
             f"(seeds {report['eval_seeds'][0]}..{report['eval_seeds'][1]})",
             f"network {net['inputs']} -> {' -> '.join(map(str, net['layers']))} -> "
             f"{net['actions']} (adaptive LIF, {net['substeps']} substeps per env step); "
             f"{net['trained_parameters']} trained parameters, {net['deployed_synapses']} "
             f"synapses on chip; inputs {net['input_bits']}-bit payloads, "
             f"{net['weight_bits']}-bit weights ({net['dense_processes']} Dense processes), "
             f"weight exponents {net['weight_exps']}",
             f"{'backend':<16}{'episodes':>9}{'success [95% CI]':>18}"
             f"{'final dist ± 95% CI':>22}{'on target':>11}{'cum. dist':>11}"]
    for name, row in report["rows"].items():
        low, high = row["success_ci95"]
        lines.append(f"{name:<16}{row['episodes']:>9}{row['success_rate']:>7.0%} "
                     f"[{low:.0%}, {high:.0%}]".ljust(43) +
                     f"{row['final_distance']:>11.3f} ± {row['final_distance_ci95']:.3f} m"
                     f"{row['time_on_target']:>11.1%}{row['cumulative_distance']:>11.1f}")
    f = report["fidelity"]
    lines.append(f"float vs fixed point (same inputs, open loop): action RMSE "
                 f"{f['action_rmse']:.4f}, max |diff| {f['action_max_abs_diff']:.3f}; torch vs "
                 f"float emulator max |diff| {f['torch_vs_float_emulator_max_abs_diff']:.2g} "
                 f"(torch in float64: {f['torch_float64_vs_float_emulator_max_abs_diff']:.2g})")
    fixed = report["rows"]["emulator fixed"]
    lines.append(f"fixed point: {fixed['saturations']} saturation events, "
                 f"{fixed['input_clips']} clipped inputs")
    if report["lava"]:
        lava = report["lava"]
        lines.append(f"Lava fixed_pt vs emulator fixed ({lava['episodes']} episodes, closed "
                     f"loop): actions identical: {lava['actions_identical']} (max |diff| "
                     f"{lava['max_abs_diff_vs_emulator']:.3g}), saturation events "
                     f"{report['rows']['lava fixed']['saturations']} (equal to the emulator's "
                     f"on these episodes: {lava['saturations_identical']}); median latency "
                     f"{lava['median_latency_ms']:.1f} ms per env step")
    return "\n".join(lines)


def write_report(report: dict, path: str | pathlib.Path) -> pathlib.Path:
    from loihi_deploy.compiler.files import atomic_write_text, strict_json
    return atomic_write_text(path, strict_json(report))
