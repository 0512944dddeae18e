"""Which student networks can imitate a trained controller, and what limits them
(docs/snn_control.md, "The observation's change"):

    python -m loihi_deploy.studies.imitation_capacity [--teacher panda_gru] [--steps 400]

One fixed data set: the teacher's own episodes (action noise 0.1, 96 training and 32
held-out seeds), every step labelled with the teacher's action. Each student learns those
labels by backpropagation through whole episodes (imitation.imitation_loss, Adam 1e-3,
batches of 32 episodes, gradient-norm clip 30, the same seed) and the table gives the
held-out MSE per action. A memoryless student (an MLP of the current input) shows how much
of the teacher's action the current input alone determines; a recurrent one (GRU) shows the
data set is learnable; the spiking policy is measured with and without the observation's
change as extra inputs (train-snn --input-change).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from loihi_deploy.training.configs import SNNTrainConfig
from loihi_deploy.training.snn.imitation import imitation_loss, load_teacher, teacher_actions
from loihi_deploy.training.snn.layers import InputNormalised, compile_kernels
from loihi_deploy.training.snn.predictive import (NoisyController, _optimizer, build_networks,
                                                  parameter_count, policy_controller, rollout)
from loihi_deploy.training.snn.tasks import controller_inputs, policy_input_dim, task_type

TRAIN_SEEDS, HELD_OUT_SEEDS = range(0, 96), range(5_000, 5_032)
BATCH, NOISE = 32, 0.1


class MemorylessPolicy(InputNormalised):
    """tanh(MLP(normalised x)): two tanh layers of `hidden`; no state across steps."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 128):
        super().__init__(n_in)
        self.net = torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.Tanh(),
                                       torch.nn.Linear(hidden, hidden), torch.nn.Tanh(),
                                       torch.nn.Linear(hidden, n_out))

    def reset(self, batch: int) -> None:
        pass

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(self.normalise(x)))

    def time_constant_parameters(self):
        return []


def labelled_episodes(teacher, teacher_change: bool, task: str, seeds, rng) -> dict:
    """The teacher's noisy episodes on `seeds` with its noise-free action at every step."""
    controller = NoisyController(policy_controller(teacher, len(seeds), task, teacher_change),
                                 NOISE, rng)
    episodes = rollout(controller, task, seeds)
    episodes["teacher_act"] = teacher_actions(teacher, episodes, teacher_change)
    return episodes


def student(kind: str, task: str, input_change: bool) -> torch.nn.Module:
    """mlp, gru (hidden 64) or snn (train-snn's defaults: hidden 128, rank 32, 7 substeps)."""
    env = task_type(task)
    if kind == "mlp":
        return MemorylessPolicy(policy_input_dim(task, input_change), env.act_dim)
    hidden = 64 if kind == "gru" else 128
    cfg = SNNTrainConfig(task=task, model=kind, hidden=hidden, input_change=input_change)
    return build_networks(cfg, env.obs_dim, env.act_dim, env.target_dim)[1]


def fit(network, train: dict, held_out: dict, input_change: bool, steps: int,
        seed: int = 0) -> dict:
    """Imitation on the fixed data set; held-out MSE per action after `steps` updates."""
    as_tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    x, y = as_tensor(controller_inputs(train, input_change)), as_tensor(train["teacher_act"])
    x_held, y_held = (as_tensor(controller_inputs(held_out, input_change)),
                      as_tensor(held_out["teacher_act"]))
    network.fit_input(controller_inputs(train, input_change).reshape(-1, x.shape[-1]))
    optimiser = _optimizer(network)
    generator = torch.Generator().manual_seed(seed)
    start, losses = time.perf_counter(), []
    for _ in range(steps):
        rows = torch.randperm(len(x), generator=generator)[:BATCH]
        loss = imitation_loss(network, x[rows], y[rows])
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 30.0)
        optimiser.step()
        losses.append(loss.item())
    with torch.no_grad():
        held = imitation_loss(network, x_held, y_held).item()
    return {"parameters": parameter_count(network), "train_mse": float(np.mean(losses[-50:])),
            "held_out_mse": held, "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="panda_gru", help="a bundled run or run folder")
    parser.add_argument("--task", default="panda", choices=["panda", "reach2d"])
    parser.add_argument("--steps", type=int, default=400, help="updates per student")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    compile_kernels(True)
    teacher, teacher_change = load_teacher(args.teacher, args.task, torch.device("cpu"))
    rng = np.random.default_rng(0)
    train = labelled_episodes(teacher, teacher_change, args.task, TRAIN_SEEDS, rng)
    held_out = labelled_episodes(teacher, teacher_change, args.task, HELD_OUT_SEEDS, rng)
    print(f"teacher {args.teacher}: {len(TRAIN_SEEDS)} training and {len(HELD_OUT_SEEDS)} "
          f"held-out episodes; variance of its actions "
          f"{held_out['teacher_act'].var():.3f}; {args.steps} updates per student")
    print(f"{'student':<28}{'parameters':>11}{'train MSE':>11}{'held-out MSE':>14}"
          f"{'seconds':>9}")
    for kind, change in (("mlp", False), ("gru", False), ("snn", False), ("mlp", True),
                         ("snn", True)):
        torch.manual_seed(0)
        row = fit(student(kind, args.task, change), train, held_out, change, args.steps)
        name = f"{kind}{' + observation change' if change else ''}"
        print(f"{name:<28}{row['parameters']:>11,}{row['train_mse']:>11.4f}"
              f"{row['held_out_mse']:>14.4f}{row['seconds']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
