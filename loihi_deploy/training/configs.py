"""Configurations of the training commands: every default and its help text, once (the CLI
builds its options from these fields, loihi_deploy.options). Light to import: no torch, no
gymnasium."""
from __future__ import annotations

import dataclasses
import json

from loihi_deploy.compiler.limits import (MAX_BATCH, MAX_EPISODES, MAX_HIDDEN_UNITS,
                                          MAX_ITERATIONS, MAX_SEED, MAX_SHIFT, MAX_SUBSTEPS,
                                          MAX_THREADS, MAX_TRAIN_STEPS)
from loihi_deploy.options import float_in, int_in, option, positive_int


@dataclasses.dataclass
class TrainConfig:
    """`loihi-deploy train`: an SB3 TD3/SAC policy with ReLU actor, checkpointed, resumable."""
    env_id: str = option(flag="--env", help="gymnasium id, e.g. HalfCheetah-v5")
    steps: int = option(type=int_in(1, MAX_TRAIN_STEPS), help="total env steps")
    env_kwargs: str = option("", help="gymnasium keyword arguments as a JSON object, e.g. "
                                      "'{\"include_cfrc_ext_in_observation\": false}'; "
                                      "recorded in the policy's metadata")
    algo: str = option("td3", choices=["td3", "sac"], help="algorithm")
    seed: int = option(0, type=int_in(0, MAX_SEED), help="random seed")
    run_dir: str = option("", help="checkpoint folder (default runs/ENV-ALGO-sSEED); re-running "
                                   "the same command resumes from it")
    threads: int = option(1, type=int_in(1, MAX_THREADS), help="torch threads")
    eval_every: int = option(25_000, type=positive_int, help="env steps between evaluations")
    eval_episodes: int = option(5, cli=False, help="episodes per periodic evaluation")
    final_eval_episodes: int = option(20, cli=False, help="episodes of the final evaluation")
    checkpoint_every: int = option(25_000, type=positive_int,
                                   help="env steps between checkpoints")
    learning_starts: int = option(10_000, help="random-action steps before learning")
    hidden: tuple[int, ...] = option((256, 256), cli=False, help="actor/critic hidden sizes")
    out: str = option("", help="exported policy path (default RUN_DIR/policy.pt)")
    init_from: str = option("", help="SB3 model.zip (or run dir) to fine-tune from, e.g. a "
                                     "state policy continued on ENV-repeat2")
    action_cost: float = option(0.0, help="training reward minus COST x mean squared normalised "
                                          "action (a gentler expert for pixel distillation); "
                                          "evaluations use the env's reward")


@dataclasses.dataclass
class DistillConfig:
    """`loihi-deploy distill`: a convolutional pixel policy by DAgger from a state expert."""
    expert: str = option(help="bundled policy name or file (state-based)")
    env_id: str = option(flag="--env", help="pixel env id, e.g. HalfCheetah-v5-pixels")
    iterations: int = option(6, type=int_in(1, MAX_ITERATIONS), help="DAgger iterations")
    episodes: int = option(10, type=int_in(1, MAX_EPISODES), help="episodes per iteration")
    updates: int = option(2000, type=positive_int, help="minibatch steps per iteration")
    noise: float = option(0.1, help="Gaussian noise on executed actions, in [-1, 1] action "
                                    "units (DART); labels stay clean")
    shift: int = option(0, type=int_in(0, MAX_SHIFT),
                       help="random-shift augmentation in pixels (DrQ uses 4)")
    batch_size: int = option(128, cli=False, help="minibatch size")
    lr: float = option(5e-4, cli=False, help="Adam learning rate")
    hidden: int = option(256, cli=False, help="hidden units after the convolutions")
    seed: int = option(0, type=int_in(0, MAX_SEED), help="random seed")
    threads: int = option(1, type=int_in(1, MAX_THREADS), help="torch threads")
    eval_episodes: int = option(5, cli=False, help="episodes evaluated after each iteration")
    final_eval_episodes: int = option(20, cli=False, help="episodes of the final evaluation")
    run_dir: str = option("", help="folder for data and checkpoints (default "
                                   "runs/distill-ENV-sSEED); re-running resumes")
    out: str = option("", help="exported policy path (default RUN_DIR/pixel_policy.pt)")


@dataclasses.dataclass
class SNNTrainConfig:
    """`loihi-deploy train-snn`: predictive control of a spiking (or GRU) controller."""
    task: str = option("reach2d", choices=["reach2d", "panda"],
                       help="reach2d: planar two-link arm; panda: MuJoCo Franka Panda, torques")
    model: str = option("snn", choices=["snn", "gru"],
                        help="adaptive-LIF spiking networks, or the GRU baseline")
    forward_model: str = option("gru", choices=["gru", "snn", "same"],
                                help="the forward model's network, used in training only (the "
                                     "policy is what deploys): gru (a spiking policy learns "
                                     "through it better, docs/snn_control.md), snn, or same "
                                     "= the policy's kind")
    teacher: str = option("", help="imitate this trained run's policy (a bundled run such as "
                                   "panda_gru, or a train-snn folder) by DAgger instead of "
                                   "predictive control; no forward model is trained "
                                   "(docs/snn_control.md); --batch then counts whole "
                                   "episodes")
    input_change: bool | None = option(None, type=bool,
                                       help="give the policy the observation's change since "
                                            "the previous step as extra inputs, computed on "
                                            "the host: a memory the spiking policy lacks "
                                            "(docs/snn_control.md); default: on for --model "
                                            "snn, off for gru (measured so)")
    hidden: int = option(128, type=int_in(1, MAX_HIDDEN_UNITS), help="hidden units per layer")
    rank: int = option(32, type=int_in(0, MAX_HIDDEN_UNITS),
                       help="latent compression rank between spiking layers, 0 = off")
    substeps: int = option(7, type=int_in(1, MAX_SUBSTEPS), help="2 ms substeps per env step")
    iterations: int = option(300, type=int_in(1, MAX_ITERATIONS), help="training iterations")
    episodes: int = option(8, type=int_in(1, MAX_EPISODES), help="episodes collected per iteration")
    model_batches: int = option(25, type=positive_int, help="forward-model updates per iteration")
    policy_batches: int = option(10, type=positive_int, help="policy updates per iteration")
    batch: int = option(256, type=int_in(1, MAX_BATCH),
                        help="windows per batch (with --teacher: whole episodes)")
    warmup: int = option(5, cli=False, help="real steps before the imagined ones")
    horizon: int = option(40, type=positive_int, help="imagined steps")
    noise: float = option(0.3, help="Gaussian action noise while collecting episodes")
    output_scale: str = option("refit", choices=["refit", "first"],
                               help="the forward model's output unit (std of the state changes "
                                    "per dimension): refit = on the whole buffer after every "
                                    "iteration, the output layer rescaled so predictions are "
                                    "kept; first = the first iteration's episodes only")
    loss: str = option("squared", choices=["squared", "distance"],
                       help="the policy's loss per imagined step: distance = |hand - target| "
                            "(the task's reward, the same pull at every distance), squared = "
                            "|hand - target|^2 (weak near the target)")
    output_bound_weight: float = option(0.0, help="weight of a penalty on the policy's output "
                                                  "before tanh beyond +-3 (tanh's flat tails, "
                                                  "where gradients vanish); 0 = off")
    policy_lr: float = option(1e-3, type=float_in(0.0, 1.0),
                              help="the policy's Adam learning rate (its time constants, learned "
                                   "as log tau, at 10x it); the forward model keeps 1e-3")
    lr_schedule: str = option("cosine", choices=["constant", "cosine"],
                              help="learning rates over the run (both networks): constant, or "
                                   "cosine from the initial ones down to a tenth at the last "
                                   "iteration")
    eval_episodes: int = option(20, cli=False, help="evaluation episodes per iteration")
    seed: int = option(0, type=int_in(0, MAX_SEED), help="random seed")
    threads: int = option(2, type=int_in(1, MAX_THREADS), help="torch threads")
    device: str = option("auto", choices=["auto", "cpu", "cuda"],
                         help="where to train: auto = cuda when a GPU is visible, else cpu")
    kernels: str = option("compiled", choices=["compiled", "fused", "per-substep"],
                          help="spiking neuron updates: compiled = each layer's substeps as "
                               "one torch.compile'd kernel (needs a C++ compiler on a CPU; "
                               "falls back to fused), fused = the same without compiling, "
                               "per-substep = autograd through every substep (the reference)")
    out: str = option("", help="output folder (default runs/TASK-MODEL-sSEED); re-running on "
                               "a folder with a checkpoint continues that run (a larger "
                               "--iterations extends it)")

    def __post_init__(self):
        if self.input_change is None:       # the default by network kind (docs/snn_control.md)
            self.input_change = self.model == "snn"

    @property
    def latent_rank(self) -> int | None:
        """rank, or None when compression is off (rank 0)."""
        return self.rank or None

    @property
    def out_dir(self) -> str:
        return self.out or f"runs/{self.task}-{self.model}-s{self.seed}"


def check_resume_settings(where: str, saved, cfg, changeable: tuple[str, ...], hint: str,
                          before_option: dict | None = None) -> None:
    """A folder's saved settings (the dataclasses.asdict of its run's config, as JSON) must be
    cfg's, but for the `changeable` ones: ValueError naming every one that differs. A setting
    the saved run predates (not in its config) counts as `before_option` says (what runs did
    before it existed), else as its default. hint: what the user can do instead."""
    if not isinstance(saved, dict):
        raise ValueError(f"{where}: holds a run whose settings were not saved (no config "
                         f"object), so continuing it cannot be checked; {hint}")
    now = json.loads(json.dumps(dataclasses.asdict(cfg)))      # tuples as saved: lists
    defaults = json.loads(json.dumps({f.name: f.default for f in dataclasses.fields(cfg)
                                      if f.default is not dataclasses.MISSING}))
    absent = object()
    changed = []
    for key, value in now.items():
        before = saved.get(key, (before_option or {}).get(key, defaults.get(key, absent)))
        if key not in changeable and before != value:
            changed.append(f"{key} {'(not saved)' if before is absent else repr(before)} -> "
                           f"{value!r}")
    if changed:
        raise ValueError(f"{where}: holds a run with other settings ({'; '.join(changed)}); "
                         f"re-run with its settings to continue it, or {hint}")
