"""Imitation of a trained controller, DAgger (Ross et al., AISTATS 2011): `train-snn
--teacher RUN` (docs/snn_control.md, "Imitating the GRU").

Each iteration collects episodes; in iteration i (0-based) the teacher acts in each episode
with probability 0.5^i, the student in the others (both with the run's action noise), so the
first iterations hold the teacher's trajectories and the later ones the student's own. The
teacher, run along every episode's inputs from its start (its recurrent state too), labels
each step with the action it would take there; the student learns those actions by
backpropagation through whole episodes from reset (mean squared error of the actions, which
lie in [-1, 1]), as it will run when deployed.
"""
from __future__ import annotations

import numpy as np
import torch

from loihi_deploy.training.snn.runs import load_policy
from loihi_deploy.training.snn.tasks import controller_inputs

TEACHER_SHARE_DECAY = 0.5     # P(teacher acts in an episode) = TEACHER_SHARE_DECAY ** iteration


def load_teacher(name: str, task: str, device: torch.device) -> tuple[torch.nn.Module, bool]:
    """(the teacher's policy network, frozen; whether it takes the observation's change as
    inputs, its --input-change) of a bundled run name or a train-snn folder."""
    teacher, config = load_policy(name)
    if config["task"] != task:
        raise ValueError(f"--teacher {name}: trained on task {config['task']!r}, this run is "
                         f"{task!r}")
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher.to(device).eval(), bool(config.get("input_change", False))


def teacher_actions(teacher: torch.nn.Module, batch: dict, input_change: bool = False
                    ) -> np.ndarray:
    """(E, L, a) the teacher's action at every step of a rollout's episodes, its state reset
    at each episode's start and carried along the recorded inputs (encoded as the teacher was
    trained: input_change)."""
    device = next(teacher.parameters()).device
    inputs = torch.tensor(controller_inputs(batch, input_change), dtype=torch.float32,
                          device=device)
    teacher.reset(len(inputs))
    with torch.no_grad():
        actions = [teacher(inputs[:, t]) for t in range(inputs.shape[1])]
    return torch.stack(actions, dim=1).cpu().numpy().astype(np.float64)


def teacher_acts(iteration: int, episodes: int, rng: np.random.Generator) -> np.ndarray:
    """(episodes,) bool: in which of this iteration's episodes the teacher acts."""
    return rng.random(episodes) < TEACHER_SHARE_DECAY ** iteration


def imitation_loss(policy: torch.nn.Module, inputs: torch.Tensor,
                   labels: torch.Tensor) -> torch.Tensor:
    """inputs (B, L, d), labels (B, L, a): mean squared error of the policy's actions, run
    from reset through the whole episodes, against the teacher's."""
    policy.reset(len(inputs))
    actions = torch.stack([policy(inputs[:, t]) for t in range(inputs.shape[1])], dim=1)
    return ((actions - labels) ** 2).mean()
