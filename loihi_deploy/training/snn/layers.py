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
import sys

import numpy as np
import torch
from torch import nn

from loihi_deploy.compiler.ir import ALIF_ADAPTATION_XI as ADAPTATION_XI
from loihi_deploy.compiler.ir import ALIF_DT as DT
from loihi_deploy.compiler.ir import ALIF_THRESHOLD_DECAY as THRESHOLD_DECAY

TAU_MEM, TAU_SYN, TAU_ADA, TAU_OUT = 10e-3, 5e-3, 100e-3, 10e-3
SURROGATE_SIGMA, SURROGATE_H, SURROGATE_S = 1 / 16, 0.15, 6.0
XI_INIT = 4.0              # membrane fluctuation = threshold / XI_INIT at initialisation
GAUSS_CUTOFF = 60.0        # Gaussians below exp(-60) ~ 1e-26 of their peak are 0


def _gauss(x, mu, sigma):
    """Normal density; 0 where it falls below exp(-GAUSS_CUTOFF) of its peak, which no float32
    gradient can tell from 0, but which as subnormal floats slows a CPU's exp about 3x
    (docs/snn_control.md, "Training speed")."""
    exponent = 0.5 * ((x - mu) / sigma) ** 2
    density = torch.exp(-exponent.clamp(max=GAUSS_CUTOFF)) / (sigma * math.sqrt(2 * math.pi))
    return torch.where(exponent < GAUSS_CUTOFF, density, 0.0)


def surrogate_derivative(x: torch.Tensor) -> torch.Tensor:
    """d spike / d x of the multi-Gaussian surrogate (Yin et al. 2021), peak 1 + h at x = 0."""
    s, h = SURROGATE_SIGMA, SURROGATE_H
    surrogate = ((1 + h) * _gauss(x, 0.0, s) - h * _gauss(x, SURROGATE_S * s, SURROGATE_S * s)
                 - h * _gauss(x, -SURROGATE_S * s, SURROGATE_S * s))
    return surrogate * (s * math.sqrt(2 * math.pi))


class SpikeFunction(torch.autograd.Function):
    """Heaviside forward; multi-Gaussian surrogate derivative backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * surrogate_derivative(x)


spike = SpikeFunction.apply


def alif_substeps(currents, syn, mem, b, n, s, beta_syn, beta_mem, beta_ada):
    """ALIFLayer.forward's dynamics for S substeps without autograd: currents (S, B, n), state
    (B, n) at the start, betas (n,) -> spikes (S, B, n), syn, mem, b, n at the end, and the
    per-substep values the backward pass needs (lists of S tensors (B, n))."""
    saved = {"u": [], "syn_before": [], "mem_before": [], "syn": [], "n_before": [], "s": []}
    gain = 1 - beta_mem
    for k in range(currents.shape[0]):
        saved["syn_before"].append(syn)
        saved["mem_before"].append(mem)
        saved["n_before"].append(n)
        vth = b + ADAPTATION_XI * n
        syn = beta_syn * syn + currents[k]
        mem = beta_mem * mem + gain * syn - vth * s
        u = mem - vth
        s = (u > 0).to(u.dtype)
        b = b - THRESHOLD_DECAY * DT + (1 - b) * s
        n = beta_ada * n + (1 - beta_ada) * s
        saved["u"].append(u)
        saved["syn"].append(syn)
        saved["s"].append(s)
    return torch.stack(saved["s"]), syn, mem, b, n, saved


def alif_substeps_forward(currents, syn, mem, b, n, s, beta_syn, beta_mem, beta_ada):
    """alif_substeps' outputs only: spikes (S, B, n), syn, mem, b, n."""
    return alif_substeps(currents, syn, mem, b, n, s, beta_syn, beta_mem, beta_ada)[:5]


def alif_substeps_backward(currents, syn, mem, b, n, s, beta_syn, beta_mem, beta_ada,
                           g_spikes, g_syn, g_mem, g_n):
    """Reverse-mode derivative of alif_substeps, recomputing the forward pass (cheaper than
    storing it): gradients of the spikes (S, B, n) and of the final syn, mem, n (B, n) ->
    gradients of currents (S, B, n), the initial syn, mem, n (B, n) and the betas (n,).
    As in ALIFLayer.forward, nothing flows through the reset term, the threshold base b or the
    spikes inside the state updates (detached there)."""
    *_, saved = alif_substeps(currents, syn, mem, b, n, s, beta_syn, beta_mem, beta_ada)
    g_currents = []
    g_beta_syn = g_beta_mem = g_beta_ada = torch.zeros_like(syn)
    gain = 1 - beta_mem
    for k in reversed(range(currents.shape[0])):
        g_u = g_spikes[k] * surrogate_derivative(saved["u"][k])   # s_k = H(u_k)
        g_mem = g_mem + g_u                                       # u_k = mem_k - vth_k
        # n_k = beta_ada n_{k-1} + (1 - beta_ada) s_k;  vth_k = b_{k-1} + xi n_{k-1}
        g_beta_ada = g_beta_ada + g_n * (saved["n_before"][k] - saved["s"][k])
        g_n = beta_ada * g_n - ADAPTATION_XI * g_u
        # mem_k = beta_mem mem_{k-1} + (1 - beta_mem) syn_k - vth_k s_{k-1}
        g_beta_mem = g_beta_mem + g_mem * (saved["mem_before"][k] - saved["syn"][k])
        g_syn = g_syn + gain * g_mem
        g_mem = beta_mem * g_mem
        # syn_k = beta_syn syn_{k-1} + I_k
        g_currents.append(g_syn)
        g_beta_syn = g_beta_syn + g_syn * saved["syn_before"][k]
        g_syn = beta_syn * g_syn
    return (torch.stack(g_currents[::-1]), g_syn, g_mem, g_n, g_beta_syn.sum(0),
            g_beta_mem.sum(0), g_beta_ada.sum(0))


_KERNELS = {"forward": alif_substeps_forward, "backward": alif_substeps_backward}


def compile_kernels(enabled: bool = True) -> bool:
    """Compile the substep kernels with torch.compile (each becomes one or a few fused loops
    over the neurons, ~6x faster on a CPU; needs a C++ compiler, or a GPU). Returns whether
    they are compiled; falls back to the same functions run op by op, saying why."""
    if not enabled:
        _KERNELS.update(forward=alif_substeps_forward, backward=alif_substeps_backward)
        return False
    try:
        import torch._inductor.config  # noqa: F401  (fails where inductor is missing)
        # one specialisation per batch size, layer input (constant over the substeps or not)
        # and grad mode: more than dynamo's default 8, past which it would run them op by op
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        _KERNELS.update(forward=torch.compile(alif_substeps_forward, dynamic=False),
                        backward=torch.compile(alif_substeps_backward, dynamic=False))
        return True
    except Exception as error:          # no compiler backend: run op by op
        print(f"train-snn: torch.compile unavailable ({error}); running the neuron updates "
              "op by op (slower, same results)", file=sys.stderr)
        return compile_kernels(False)


class ALIFSubsteps(torch.autograd.Function):
    """S substeps of an ALIF layer as one autograd node: alif_substeps forward,
    alif_substeps_backward backward (docs/snn_control.md, "Training speed"). Inputs: currents
    (S, B, n), state syn, mem, b, n, s (B, n), betas (n,); outputs spikes (S, B, n) and the
    final syn, mem, b, n."""

    @staticmethod
    def forward(ctx, currents, syn, mem, b, n, s, beta_syn, beta_mem, beta_ada):
        inputs = (currents, syn, mem, b, n, s, beta_syn, beta_mem, beta_ada)
        ctx.save_for_backward(*inputs)
        spikes, syn, mem, b, n = _KERNELS["forward"](*inputs)
        ctx.mark_non_differentiable(b)
        return spikes, syn, mem, b, n

    @staticmethod
    def backward(ctx, g_spikes, g_syn, g_mem, _g_b, g_n):
        inputs = ctx.saved_tensors
        zeros = torch.zeros_like(inputs[1])
        g_currents, g_syn, g_mem, g_n, g_bs, g_bm, g_ba = _KERNELS["backward"](
            *inputs, g_spikes.contiguous(), zeros if g_syn is None else g_syn,
            zeros if g_mem is None else g_mem, zeros if g_n is None else g_n)
        return g_currents, g_syn, g_mem, None, g_n, None, g_bs, g_bm, g_ba


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

    def current(self, x: torch.Tensor) -> torch.Tensor:
        """Synaptic input W x + bias, x (..., n_in) -> (..., n)."""
        return self.linear(self.compress(x) if self.compress is not None else x)

    def forward(self, x: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        """One substep, differentiated operation by operation (the definition; `run` is the
        fast form). x (B, n_in) -> spikes (B, n), state."""
        syn, mem, b, n, s = state
        current = self.current(x)
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

    def betas(self) -> tuple[torch.Tensor, ...]:
        """(beta_syn, beta_mem, beta_ada), each (n,), as `run` takes them."""
        return self.tau_syn.beta(), self.tau_mem.beta(), self.tau_ada.beta()

    def run(self, currents: torch.Tensor, state: tuple, betas: tuple) -> tuple[torch.Tensor,
                                                                              tuple]:
        """S substeps at once (ALIFSubsteps): currents (S, B, n) -> spikes (S, B, n), state;
        betas: self.betas(), computed once for many calls."""
        syn, mem, b, n, s = state
        spikes, syn, mem, b, n = ALIFSubsteps.apply(currents, syn, mem, b, n, s.detach(), *betas)
        return spikes, (syn, mem, b, n, spikes[-1])

    def time_constant_parameters(self):
        return [self.tau_mem.log_tau, self.tau_syn.log_tau, self.tau_ada.log_tau]


class LeakyReadout(nn.Module):
    def __init__(self, n_in: int, n_out: int, input_rate: float):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        fluctuation_init(self.linear, input_rate)
        self.tau = LogTau(n_out, TAU_OUT)

    def forward(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """One substep: spikes x (B, n_in), readout r (B, n_out) -> r."""
        beta = self.tau.beta()
        return beta * r + (1 - beta) * self.linear(x)

    def run(self, spikes: torch.Tensor, r: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """S substeps: spikes (S, B, n_in) -> r (B, n_out) after the last; beta:
        self.tau.beta(), computed once for many calls."""
        drive = (1 - beta) * self.linear(spikes)
        for k in range(spikes.shape[0]):
            r = beta * r + drive[k]
        return r


class InputNormalised(nn.Module):
    """Inputs standardised by statistics of the first collected episodes (buffers input_mean,
    input_std (n_in,), fit once by fit_input; identity until then), so every input dimension
    (metres, radians, torque fractions, targets) starts on the same scale. The compiler folds
    them into layer 0 (compiler.frontend.from_trained_snn)."""

    def __init__(self, n_in: int):
        super().__init__()
        self.register_buffer("input_mean", torch.zeros(n_in))
        self.register_buffer("input_std", torch.ones(n_in))

    def fit_input(self, x: np.ndarray) -> None:
        """x (N, n_in) inputs: mean and std per dimension (std floor 1e-3)."""
        self.input_mean.copy_(torch.tensor(x.mean(axis=0)))
        self.input_std.copy_(torch.tensor(np.maximum(x.std(axis=0), 1e-3)))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.input_mean) / self.input_std


class SpikingNetwork(InputNormalised):
    """Real-valued input (times a learnable per-input scale) as a constant current for
    `substeps` substeps of DT per env step; hidden ALIF layers; leaky readout taken at the
    last substep. State is carried across env steps; reset() at episode start.
    fused=True runs each layer's substeps as one autograd node (ALIFSubsteps, layer by layer:
    a layer's substeps need only the spikes of the layer below); fused=False differentiates
    substep by substep (the reference; same values, ~10x slower to train)."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 128, layers: int = 2,
                 substeps: int = 7, rank: int | None = None, output: str = "linear",
                 fused: bool = True):
        super().__init__(n_in)
        self.input_scale = nn.Parameter(torch.ones(n_in))
        sizes = [n_in] + [hidden] * layers
        self.layers = nn.ModuleList(ALIFLayer(i, o, 1.0 if k == 0 else 0.05,
                                              rank if k > 0 else None)
                                    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])))
        self.readout = LeakyReadout(hidden, n_out, 0.05)
        self.substeps, self.output, self.fused = substeps, output, fused
        self.state = None
        self.decays = None      # the time constants' decay factors in this episode
        self.preactivation = None       # the last forward's output before tanh (B, n_out)

    def reset(self, batch: int) -> None:
        like = {"device": self.input_scale.device, "dtype": self.input_scale.dtype}
        self.state = ([tuple(t.to(**like) for t in layer.initial_state(batch))
                       for layer in self.layers],
                      torch.zeros(batch, self.readout.linear.out_features, **like))
        self.decays = None      # computed at the first step (in that step's grad mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, n_in) -> output (B, n_out) after `substeps` substeps."""
        layer_states, r = self.state
        x = self.normalise(x) * self.input_scale
        if self.fused:
            if self.decays is None:  # once per episode, not at every step (fewer autograd
                # nodes): from one reset to the next the network runs with the time
                # constants it had at its first step
                self.decays = ([layer.betas() for layer in self.layers],
                               self.readout.tau.beta())
            layer_betas, readout_beta = self.decays
            new_states = []
            for k, (layer, st, betas) in enumerate(zip(self.layers, layer_states, layer_betas)):
                if k == 0:      # the input is constant over the substeps: one product
                    current = layer.current(x).expand(self.substeps, -1, -1)
                else:
                    current = layer.current(h)
                h, st = layer.run(current, st, betas)
                new_states.append(st)
            r = self.readout.run(h, r, readout_beta)
            self.state = (new_states, r)
        else:
            for _ in range(self.substeps):
                h = x
                new_states = []
                for layer, st in zip(self.layers, layer_states):
                    h, st = layer(h, st)
                    new_states.append(st)
                layer_states = new_states
                r = self.readout(h, r)
            self.state = (layer_states, r)
        self.preactivation = r
        return torch.tanh(r) if self.output == "tanh" else r

    def scale_output(self, factor: torch.Tensor) -> None:
        """Multiply every output by factor (n_out,): the readout is linear in its weights."""
        with torch.no_grad():
            self.readout.linear.weight.mul_(factor[:, None])
            self.readout.linear.bias.mul_(factor)

    def time_constant_parameters(self):
        params = [p for layer in self.layers for p in layer.time_constant_parameters()]
        return params + [self.readout.tau.log_tau]


class GRUNetwork(InputNormalised):
    """Non-spiking baseline with the same interface: GRU cell (hidden state carried across env
    steps, reset at episode start), linear output."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 128, output: str = "linear"):
        super().__init__(n_in)
        self.cell = nn.GRUCell(n_in, hidden)
        self.head = nn.Linear(hidden, n_out)
        self.hidden, self.output = hidden, output
        self.state = None
        self.preactivation = None       # the last forward's output before tanh (B, n_out)

    def reset(self, batch: int) -> None:
        self.state = torch.zeros(batch, self.hidden, device=self.head.weight.device,
                                 dtype=self.head.weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.state = self.cell(self.normalise(x), self.state)
        y = self.head(self.state)
        self.preactivation = y
        return torch.tanh(y) if self.output == "tanh" else y

    def scale_output(self, factor: torch.Tensor) -> None:
        """Multiply every output by factor (n_out,)."""
        with torch.no_grad():
            self.head.weight.mul_(factor[:, None])
            self.head.bias.mul_(factor)

    def time_constant_parameters(self):
        return []
