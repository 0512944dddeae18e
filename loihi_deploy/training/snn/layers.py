"""Spiking layers in PyTorch for directly trained controllers (docs/snn_control.md).

Adaptive current-based LIF (ALIF) neurons, per substep of dt seconds, per neuron, with
beta_x = exp(-dt / tau_x) and tau_x = exp(log_tau_x) learnable (own learning rate):
    syn = beta_syn * syn + I                        I = W x + b (x: input or spikes)
    mem = beta_mem * mem + (1 - beta_mem) * syn - vth * s_prev     (reset by subtraction,
                                                                    not differentiated)
    s   = H(mem - vth)                               multi-Gaussian surrogate gradient
    b   = b - decay * dt + (1 - b) * s               threshold base: decays linearly (10/s);
                                                     a spike sets it to 1 - decay * dt
    n   = beta_ada * n + (1 - beta_ada) * s          adaptation trace
    vth = b + xi * n                                 xi = 0.05
Readout: non-spiking leaky integrator  r = beta_out * r + (1 - beta_out) * (W s + b).
Weights are initialised fluctuation-driven (Rossbroich et al. 2022): zero mean, standard
deviation such that the membrane's fluctuation from the inputs is theta / XI_INIT given the
PSP kernel of (tau_syn, tau_mem) and the expected input rate.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from loihi_deploy.compiler.ir import ALIF_ADAPTATION_XI as ADAPTATION_XI
from loihi_deploy.compiler.ir import ALIF_DT as DT
from loihi_deploy.compiler.ir import ALIF_THRESHOLD_DECAY as THRESHOLD_DECAY

TAU_MEM, TAU_SYN, TAU_ADA, TAU_OUT = 10e-3, 5e-3, 100e-3, 10e-3
SURROGATE_SIGMA, SURROGATE_H, SURROGATE_S = 1 / 16, 0.15, 6.0
XI_INIT = 4.0              # membrane fluctuation = threshold / XI_INIT at initialisation


def _gauss(x, mu, sigma):
    return torch.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


class SpikeFunction(torch.autograd.Function):
    """Heaviside forward; multi-Gaussian surrogate derivative backward (Yin et al. 2021)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        s, h = SURROGATE_SIGMA, SURROGATE_H
        surrogate = ((1 + h) * _gauss(x, 0.0, s) - h * _gauss(x, SURROGATE_S * s, SURROGATE_S * s)
                     - h * _gauss(x, -SURROGATE_S * s, SURROGATE_S * s))
        return grad * surrogate * s * math.sqrt(2 * math.pi)   # peak 1 + h at x = 0


spike = SpikeFunction.apply


def psp_kernel_energy(tau_syn: float, tau_mem: float, dt: float = DT, steps: int = 500) -> float:
    """sum_t eps(t)^2 of the discrete PSP of one unit input through syn then mem."""
    bs, bm = math.exp(-dt / tau_syn), math.exp(-dt / tau_mem)
    syn = mem = 0.0
    total = 0.0
    for t in range(steps):
        syn = bs * syn + (1.0 if t == 0 else 0.0)
        mem = bm * mem + (1 - bm) * syn
        total += mem * mem
    return total


def fluctuation_init(linear: nn.Linear, rate: float, threshold: float = 1.0) -> None:
    """Zero-mean weights whose summed PSPs fluctuate with std threshold / XI_INIT for inputs
    active with probability `rate` per substep (1.0 for real-valued inputs)."""
    fan_in = linear.weight.shape[1]
    energy = psp_kernel_energy(TAU_SYN, TAU_MEM)
    std = threshold / XI_INIT / math.sqrt(max(fan_in * rate * energy, 1e-12))
    with torch.no_grad():
        linear.weight.normal_(0.0, std)
        linear.bias.zero_()


class LogTau(nn.Module):
    """Per-neuron time constants, parametrised as log tau (seconds)."""

    def __init__(self, n: int, tau: float):
        super().__init__()
        self.log_tau = nn.Parameter(torch.full((n,), math.log(tau)))

    def beta(self, dt: float = DT) -> torch.Tensor:
        return torch.exp(-dt / torch.exp(self.log_tau))


class ALIFLayer(nn.Module):
    """Adaptive current-based LIF layer (module docstring). Input (B, n_in) per substep."""

    def __init__(self, n_in: int, n: int, input_rate: float, rank: int | None = None):
        """rank: latent compression, W = B A with A (rank, n_in), B (n, rank)."""
        super().__init__()
        self.n = n
        if rank:
            self.compress = nn.Linear(n_in, rank, bias=False)
            self.linear = nn.Linear(rank, n)
            nn.init.orthogonal_(self.compress.weight)
            fluctuation_init(self.linear, input_rate * n_in / rank)
        else:
            self.compress = None
            self.linear = nn.Linear(n_in, n)
            fluctuation_init(self.linear, input_rate)
        self.tau_mem, self.tau_syn, self.tau_ada = (LogTau(n, TAU_MEM), LogTau(n, TAU_SYN),
                                                    LogTau(n, TAU_ADA))

    def initial_state(self, batch: int) -> tuple:
        zeros = torch.zeros(batch, self.n)
        return zeros, zeros, torch.ones(batch, self.n), zeros, zeros   # syn mem b n s

    def forward(self, x: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        syn, mem, b, n, s = state
        current = self.linear(self.compress(x) if self.compress is not None else x)
        vth = b + ADAPTATION_XI * n
        syn = self.tau_syn.beta() * syn + current
        beta_mem = self.tau_mem.beta()
        mem = beta_mem * mem + (1 - beta_mem) * syn - (vth * s).detach()
        s = spike(mem - vth)
        fired = s.detach()
        b = b - THRESHOLD_DECAY * DT + (1 - b) * fired
        beta_ada = self.tau_ada.beta()
        n = beta_ada * n + (1 - beta_ada) * fired
        return s, (syn, mem, b, n, s)

    def time_constant_parameters(self):
        return [self.tau_mem.log_tau, self.tau_syn.log_tau, self.tau_ada.log_tau]


class LeakyReadout(nn.Module):
    def __init__(self, n_in: int, n_out: int, input_rate: float):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        fluctuation_init(self.linear, input_rate)
        self.tau = LogTau(n_out, TAU_OUT)

    def forward(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        beta = self.tau.beta()
        return beta * r + (1 - beta) * self.linear(x)


class SpikingNetwork(nn.Module):
    """Real-valued input (times a learnable per-input scale) as a constant current for
    `substeps` substeps of DT per env step; hidden ALIF layers; leaky readout taken at the
    last substep. State is carried across env steps; reset() at episode start."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 128, layers: int = 2,
                 substeps: int = 7, rank: int | None = None, output: str = "linear"):
        super().__init__()
        self.input_scale = nn.Parameter(torch.ones(n_in))
        sizes = [n_in] + [hidden] * layers
        self.layers = nn.ModuleList(ALIFLayer(i, o, 1.0 if k == 0 else 0.05,
                                              rank if k > 0 else None)
                                    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])))
        self.readout = LeakyReadout(hidden, n_out, 0.05)
        self.substeps, self.output = substeps, output
        self.state = None
        self.spike_counts: list[torch.Tensor] = []

    def reset(self, batch: int) -> None:
        self.state = ([layer.initial_state(batch) for layer in self.layers],
                      torch.zeros(batch, self.readout.linear.out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layer_states, r = self.state
        x = x * self.input_scale
        counts = [0.0] * len(self.layers)
        for _ in range(self.substeps):
            h = x
            new_states = []
            for k, (layer, st) in enumerate(zip(self.layers, layer_states)):
                h, st = layer(h, st)
                counts[k] = counts[k] + h.detach()
                new_states.append(st)
            layer_states = new_states
            r = self.readout(h, r)
        self.state = (layer_states, r)
        self.spike_counts = counts
        return torch.tanh(r) if self.output == "tanh" else r

    def time_constant_parameters(self):
        params = [p for layer in self.layers for p in layer.time_constant_parameters()]
        return params + [self.readout.tau.log_tau]


class GRUNetwork(nn.Module):
    """Non-spiking baseline with the same interface: GRU cell (hidden state carried across env
    steps, reset at episode start), linear output."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 128, output: str = "linear"):
        super().__init__()
        self.cell = nn.GRUCell(n_in, hidden)
        self.head = nn.Linear(hidden, n_out)
        self.hidden, self.output = hidden, output
        self.state = None

    def reset(self, batch: int) -> None:
        self.state = torch.zeros(batch, self.hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.state = self.cell(x, self.state)
        y = self.head(self.state)
        return torch.tanh(y) if self.output == "tanh" else y

    def time_constant_parameters(self):
        return []
