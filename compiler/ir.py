"""The compiler's intermediate representation: small, typed, validated dataclasses of arrays.

Semantics (units are the policy's own: observation units in, action units out):

AnnGraph     the trained policy. hidden[i]: x <- relu(W x + b); readout: z = W x + b;
             head: action = offset + scale * tanh(z).
SpikingGraph the converted policy, one decision per env step (docs/conversion.md section 1):
             hidden layer l integrates I = W x_prev + b (W: Dense or Conv2d; activations are
             flat vectors, (C, H, W) order for convolutions) into spiking neurons (NeuronModel:
             IF, SNM, MT or DC) with per-neuron threshold theta; an event of code q carries
             amplitude q * unit (unit = theta / 2**(levels-1)) into the next layer; the
             readout is the ANN's last Linear on the decoded output of the last hidden layer
             (rate coding: mean over T; differential coding: running mean), then the head.
             The observation is an input current at each of T internal steps (rate coding)
             or once, as a change (differential coding). The membrane policy says what the
             membrane holds at the start of each decision (sim_backend.neurons has the
             equations).
TrainedSpikingGraph  a directly trained SNN (loihi_deploy.training.snn), state carried across env
             steps: `substeps` substeps per env step, the input (observation then target) a
             constant current into adaptive current-based LIF layers (AlifLayer), a leaky
             non-spiking readout read at the last substep, action = tanh(readout)
             (sim_backend.neurons.alif_step has the equations).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from loihi_deploy.compiler.limits import MAX_TIMESTEPS


def as_integer(name: str, value) -> int:
    """An integer field read from a file: an int, or a float with no fractional part; a
    string, a bool, 2.5 or an array is refused instead of being truncated or kept."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{name}: expected an integer, got {value!r:.50}")
    return int(value)


def _real(name: str, a) -> np.ndarray:
    """a as float64, refusing what that would change silently (complex numbers) or cannot
    represent (strings, objects)."""
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected real numbers, got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


def _as_matrix(name: str, a, rows: int | None = None, cols: int | None = None) -> np.ndarray:
    a = _real(name, a)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D weight matrix, got shape {a.shape}")
    if 0 in a.shape:
        raise ValueError(f"{name}: a layer needs at least one input and one output, got shape "
                         f"{a.shape}")
    if rows is not None and a.shape[0] != rows or cols is not None and a.shape[1] != cols:
        raise ValueError(f"{name}: expected shape ({rows}, {cols}), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains NaN or Inf")
    return a


def _as_vector(name: str, a, size: int) -> np.ndarray:
    a = _real(name, a)
    if a.shape != (size,):
        raise ValueError(f"{name}: expected shape ({size},), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains NaN or Inf")
    return a


@dataclasses.dataclass(frozen=True)
class Dense:
    """y = weight @ x + bias; weight (out, in), bias (out,)."""
    weight: np.ndarray
    bias: np.ndarray

    def __post_init__(self):
        w = _as_matrix("Dense.weight", self.weight)
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", _as_vector("Dense.bias", self.bias, w.shape[0]))

    @property
    def shape(self) -> tuple[int, int]:
        """(outputs, inputs)."""
        return self.weight.shape

    @property
    def neuron_bias(self) -> np.ndarray:
        """(out,) bias of each output neuron."""
        return self.bias

    @property
    def channel_of(self) -> np.ndarray:
        """(out,) channel of each output neuron: every neuron is its own channel."""
        return np.arange(self.weight.shape[0])

    def apply(self, x: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
        """(B, in) -> (B, out): weight @ x without the bias (`weight`: same-shaped replacement,
        e.g. integer or rescaled weights)."""
        return x @ (self.weight if weight is None else weight).T


def conv2d_flat(x: np.ndarray, kernel: np.ndarray, in_shape: tuple, stride: int,
                padding: int) -> np.ndarray:
    """(B, C*H*W) -> (B, C_out*H_out*W_out), both flattened in (C, H, W) order; kernel
    (C_out, C_in, kh, kw). Computed by torch in the kernel's dtype (float64 is exact for
    integer-valued inputs whose sums stay below 2**53)."""
    import torch
    import torch.nn.functional as F
    k = torch.from_numpy(np.ascontiguousarray(kernel))
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=kernel.dtype)).reshape(-1, *in_shape)
    with torch.no_grad():
        y = F.conv2d(xt, k, stride=stride, padding=padding)
    return y.reshape(y.shape[0], -1).numpy()


@dataclasses.dataclass(frozen=True)
class Conv2d:
    """y = conv2d(x, weight) + bias[channel], stride and zero padding as in torch, on
    activations flattened in (C, H, W) order. weight (C_out, C_in, kh, kw); bias (C_out,);
    in_shape (C_in, H, W). Neurons of one output channel share weights, bias and (after
    calibration) threshold."""
    weight: np.ndarray
    bias: np.ndarray
    in_shape: tuple
    stride: int = 1
    padding: int = 0

    def __post_init__(self):
        w = np.asarray(self.weight, dtype=np.float64)
        if w.ndim != 4:
            raise ValueError(f"Conv2d.weight: expected (C_out, C_in, kh, kw), got shape {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError("Conv2d.weight: contains NaN or Inf")
        in_shape = tuple(as_integer("Conv2d.in_shape", v) for v in self.in_shape)
        if len(in_shape) != 3 or in_shape[0] != w.shape[1] or min(in_shape) < 1:
            raise ValueError(f"Conv2d: input shape {in_shape} must be (C_in={w.shape[1]}, H, W), "
                             f"each >= 1")
        stride, padding = as_integer("Conv2d.stride", self.stride), \
            as_integer("Conv2d.padding", self.padding)
        if stride < 1 or padding < 0:
            raise ValueError(f"Conv2d: stride must be >= 1 and padding >= 0, got "
                             f"{stride}, {padding}")
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", _as_vector("Conv2d.bias", self.bias, w.shape[0]))
        object.__setattr__(self, "in_shape", in_shape)
        object.__setattr__(self, "stride", stride)
        object.__setattr__(self, "padding", padding)
        if min(self.out_shape[1:]) < 1:
            raise ValueError(f"Conv2d: a {w.shape[2]}x{w.shape[3]} kernel with stride "
                             f"{self.stride} and padding {self.padding} does not fit the "
                             f"{in_shape[1]}x{in_shape[2]} input")

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """(C_out, H_out, W_out)."""
        _, h, w = self.in_shape
        kh, kw = self.weight.shape[2:]
        return (self.weight.shape[0], (h + 2 * self.padding - kh) // self.stride + 1,
                (w + 2 * self.padding - kw) // self.stride + 1)

    @property
    def shape(self) -> tuple[int, int]:
        """(outputs, inputs) as flat vectors."""
        return int(np.prod(self.out_shape)), int(np.prod(self.in_shape))

    @property
    def fan_in(self) -> int:
        return int(np.prod(self.weight.shape[1:]))

    @property
    def neuron_bias(self) -> np.ndarray:
        return np.repeat(self.bias, self.out_shape[1] * self.out_shape[2])

    @property
    def channel_of(self) -> np.ndarray:
        """(out,) output channel of each neuron."""
        return np.repeat(np.arange(self.out_shape[0]), self.out_shape[1] * self.out_shape[2])

    @property
    def in_channel_of(self) -> np.ndarray:
        """(in,) input channel of each input entry."""
        return np.repeat(np.arange(self.in_shape[0]), self.in_shape[1] * self.in_shape[2])

    def apply(self, x: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
        """(B, in) -> (B, out): the convolution without the bias (`weight`: a replacement
        kernel of the same shape)."""
        kernel = self.weight if weight is None else weight
        return conv2d_flat(x, kernel, self.in_shape, self.stride, self.padding)


Synapse = Dense | Conv2d


def per_channel(values: np.ndarray, channel_of: np.ndarray, what: str) -> np.ndarray:
    """(n,) per-neuron values that are constant within each channel -> (channels,)."""
    values = np.asarray(values, dtype=np.float64)
    first = np.unique(channel_of, return_index=True)[1]
    out = values[first]
    if not np.allclose(values, out[channel_of], rtol=1e-12, atol=0.0):
        raise ValueError(f"{what}: values differ within a channel (a convolution shares them)")
    return out


@dataclasses.dataclass(frozen=True)
class ActionHead:
    """action = offset + scale * tanh(z); scale, offset (act_dim,) in action units."""
    scale: np.ndarray
    offset: np.ndarray

    def __post_init__(self):
        s = np.asarray(self.scale, dtype=np.float64).reshape(-1)
        object.__setattr__(self, "scale", _as_vector("ActionHead.scale", s, s.size))
        object.__setattr__(self, "offset", _as_vector("ActionHead.offset", self.offset, s.size))

    @classmethod
    def from_bounds(cls, low, high) -> "ActionHead":
        low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        return cls(scale=(high - low) / 2, offset=(high + low) / 2)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.offset + self.scale * np.tanh(z)


@dataclasses.dataclass(frozen=True)
class EnvSpaces:
    """What the compiler needs to know of an environment, read by the runtime (runtime.envs.
    env_spaces): observation and action sizes, action bounds (act_dim,) in action units, and
    the gymnasium keyword arguments the env was made with."""
    env_id: str
    obs_dim: int
    act_dim: int
    action_low: np.ndarray
    action_high: np.ndarray
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)

    def head(self) -> "ActionHead":
        return ActionHead.from_bounds(self.action_low, self.action_high)


def _check_chain(layers: list[Synapse], what: str) -> None:
    for i in range(1, len(layers)):
        if layers[i].shape[1] != layers[i - 1].shape[0]:
            raise ValueError(f"{what}: layer {i} expects {layers[i].shape[1]} inputs but layer "
                             f"{i - 1} has {layers[i - 1].shape[0]} outputs")
        if isinstance(layers[i], Conv2d) and not isinstance(layers[i - 1], Conv2d):
            raise ValueError(f"{what}: layer {i} is a convolution after a dense layer; "
                             f"convolutions must come first (conv ..., flatten, dense ...)")
    if layers and isinstance(layers[-1], Conv2d):
        raise ValueError(f"{what}: the output layer must be dense")


@dataclasses.dataclass(frozen=True)
class InputClip:
    """Observations are clipped to [low, high] ((obs_dim,) each, observation units) before
    layer 0: the clip of SB3's VecNormalize, whose affine part is folded into layer 0
    (docs/conversion.md, "VecNormalize")."""
    low: np.ndarray
    high: np.ndarray

    def __post_init__(self):
        low = np.asarray(self.low, dtype=np.float64).ravel()
        high = np.asarray(self.high, dtype=np.float64).ravel()
        if low.shape != high.shape or not np.all(low <= high) or \
                not np.all(np.isfinite(low) & np.isfinite(high)):
            raise ValueError("InputClip: low and high must be finite vectors of one size with "
                             "low <= high")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.clip(obs, self.low, self.high)


@dataclasses.dataclass(frozen=True)
class AnnGraph:
    """A ReLU policy (Conv2d layers first, flattened into Dense layers) with a tanh head.
    source: provenance (kind, path, sha256, ...); input_clip: see InputClip."""
    hidden: tuple[Synapse, ...]
    readout: Dense
    head: ActionHead
    source: dict[str, Any] = dataclasses.field(default_factory=dict)
    input_clip: InputClip | None = None

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if not self.hidden:
            raise ValueError("AnnGraph: at least one hidden ReLU layer is required")
        _check_chain([*self.hidden, self.readout], "AnnGraph")
        if self.head.scale.size != self.readout.shape[0]:
            raise ValueError(f"AnnGraph: head has {self.head.scale.size} actions, readout "
                             f"{self.readout.shape[0]}")
        _check_input_clip(self.input_clip, self.obs_dim, "AnnGraph")

    @property
    def obs_dim(self) -> int:
        return self.hidden[0].shape[1]

    @property
    def act_dim(self) -> int:
        return self.readout.shape[0]

    def forward(self, obs: np.ndarray, activations: list | None = None) -> np.ndarray:
        """(B, obs_dim) -> (B, act_dim). Appends each hidden layer's ReLU output to activations."""
        x = np.asarray(obs, dtype=np.float64)
        if self.input_clip is not None:
            x = self.input_clip(x)
        for layer in self.hidden:
            x = np.maximum(layer.apply(x) + layer.neuron_bias, 0.0)
            if activations is not None:
                activations.append(x)
        return self.head(self.readout.apply(x) + self.readout.bias)


def _check_input_clip(clip: InputClip | None, obs_dim: int, what: str) -> None:
    if clip is not None and clip.low.size != obs_dim:
        raise ValueError(f"{what}: input clip has {clip.low.size} entries for {obs_dim} inputs")


MEMBRANE_KINDS = ("vanilla", "crpi", "free")


@dataclasses.dataclass(frozen=True)
class MembranePolicy:
    """What the membrane holds at the start of each decision (sim_backend.neurons).

    vanilla: v_init (= crpi with alpha 0); crpi: the paper's rule with alpha in [0, 1] and
    clip radius `clip` in event units (None: the neuron model's default); free: the membrane
    runs on across decisions (v[0] of step k+1 = v[T] of step k).
    """
    kind: str = "vanilla"
    alpha: float = 0.0
    clip: float | None = None

    def __post_init__(self):
        if self.kind not in MEMBRANE_KINDS:
            raise ValueError(f"membrane policy: expected one of {MEMBRANE_KINDS}, got "
                             f"{self.kind!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"membrane policy: alpha must be in [0, 1], got {self.alpha}")
        if self.kind != "crpi" and (self.alpha != 0.0 or self.clip is not None):
            raise ValueError(f"membrane policy {self.kind!r} takes no alpha or clip (got "
                             f"alpha {self.alpha}, clip {self.clip})")
        if self.clip is not None and not 0.0 < self.clip <= 64.0:
            raise ValueError(f"membrane policy: CRPI clip must be in (0, 64] event units, got "
                             f"{self.clip}")

    @classmethod
    def parse(cls, text: str) -> "MembranePolicy":
        """'vanilla' | 'free' | 'crpi:ALPHA[:CLIP]' (or 'crpi' for alpha 0.5)."""
        kind, _, rest = text.strip().lower().partition(":")
        if kind == "crpi":
            alpha, _, clip = rest.partition(":")
            return cls("crpi", float(alpha) if alpha else 0.5, float(clip) if clip else None)
        if rest:
            raise ValueError(f"membrane policy {kind!r} takes no alpha (got {text!r})")
        return cls(kind)

    def __str__(self) -> str:
        if self.kind != "crpi":
            return self.kind
        return f"crpi:{self.alpha:g}" + ("" if self.clip is None else f":{self.clip:g}")


NEURON_KINDS = ("if", "snm", "mt", "dc", "dc-if", "cuba")
MAX_LEVELS = 7   # fixed point: level theta >> i is exact for i <= 6 (theta = vth_mant << 6)


@dataclasses.dataclass(frozen=True)
class NeuronModel:
    """Neuron model of every hidden layer (docs/conversion.md section 1 and docs/neuron_models.md; sim_backend.neurons).

    kind:   if     IF, soft reset, binary spikes of amplitude theta (the paper)
            snm    signed neuron with memory (+-theta events, running-total gate)
            mt     multi-threshold: levels theta / 2**i, i < levels, signed
            dc     differential coding on MT neurons
            dc-if  differential coding on signed IF neurons (the SNM firing rule)
            cuba   Loihi's stock CUBA neuron as a hard-reset IF (du 4095, dv 0): what
                   lava-dl netx files carry (compiler.export_netx)
    levels: MT / DC levels n (1..7); other kinds have one level.
    """
    kind: str = "if"
    levels: int = 4

    def __post_init__(self):
        if self.kind not in NEURON_KINDS:
            raise ValueError(f"neuron model: expected one of {NEURON_KINDS}, got {self.kind!r}")
        if not isinstance(self.levels, (int, np.integer)) or not 1 <= self.levels <= MAX_LEVELS:
            raise ValueError(f"neuron model {self.kind}: levels must be an integer in "
                             f"[1, {MAX_LEVELS}] (in Loihi fixed point the smallest level "
                             f"theta >> (levels-1) is exact only up to 7 levels, theta being "
                             f"vth_mant << 6), got {self.levels!r}")
        object.__setattr__(self, "levels", int(self.levels) if self.rule == "mt" else 1)

    @property
    def rule(self) -> str:
        return {"if": "if", "snm": "signed", "dc-if": "signed", "cuba": "cuba"}.get(self.kind,
                                                                                 "mt")

    @property
    def coding(self) -> str:
        return "differential" if self.kind.startswith("dc") else "rate"

    @property
    def n_levels(self) -> int:
        return self.levels

    @property
    def default_clip(self) -> float:
        """CRPI clip radius in units: theta/2 around theta/2 (IF, signed; the paper's), or
        0.75 of the smallest level around 0 (MT): a larger start would fire at once."""
        return 0.75 if self.rule == "mt" else 0.5

    @property
    def max_code(self) -> int:
        return 2 ** (self.levels - 1)

    @property
    def payload_bits(self) -> int:
        """Bits of one event: 1 (IF spike), 2 (signed), levels + 1 (signed MT code)."""
        return {"if": 1, "cuba": 1, "signed": 2}.get(self.rule, self.levels + 1)

    @classmethod
    def parse(cls, text: str, levels: int | None = None) -> "NeuronModel":
        """'if' | 'snm' | 'mt' | 'mt:4' | 'dc' | 'dc:4' | 'dc-if'."""
        kind, _, n = text.strip().lower().partition(":")
        if n and levels is not None and int(n) != levels:
            raise ValueError(f"neuron model {text!r} conflicts with levels {levels}")
        try:
            n_levels = int(n) if n else (4 if levels is None else levels)
        except ValueError:
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise ValueError(f"neuron model {shown!r}: levels must be an integer in [1, "
                             f"{MAX_LEVELS}]") from None
        return cls(kind, n_levels)

    def __str__(self) -> str:
        return f"{self.kind}:{self.levels}" if self.rule == "mt" else self.kind


LOW_WEIGHT_SHIFT = 7   # a split weight's low part has exponent weight_exp - LOW_WEIGHT_SHIFT


def _as_int(name: str, a, shape: tuple, low: int, high: int) -> np.ndarray:
    a = np.asarray(a)
    if a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError(f"{name}: expected integers")
    a = a.astype(np.int64)
    if a.size and (a.min() < low or a.max() > high):
        raise ValueError(f"{name}: values must lie in [{low}, {high}], got "
                         f"[{a.min()}, {a.max()}]")
    return a


def dense_parts(weight: np.ndarray, exp: int,
                low: np.ndarray | None) -> list[tuple[np.ndarray, int]]:
    """The stock Dense processes of one weight matrix: [(weight, exp)], or with its split
    low byte [(weight, exp), (low, exp - LOW_WEIGHT_SHIFT)]; the neuron sums their outputs."""
    if low is None:
        return [(weight, exp)]
    return [(weight, exp), (low, exp - LOW_WEIGHT_SHIFT)]


def parts_as_one(parts: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, int]:
    """(integer weights, exponent) equal to the sum of Dense parts, in units of the lowest
    part's exponent (exact up to the rounding of each part's right shift)."""
    low_exp = min(e for _, e in parts)
    return sum(w * 2 ** (e - low_exp) for w, e in parts), low_exp


@dataclasses.dataclass(frozen=True)
class FixedLayer:
    """One synapse + neuron group in Loihi fixed point (compiler.quantize documents the scheme).

    weight: (out, in) integer matrix of a Dense layer, or the (C_out, C_in, kh, kw) integer
    kernel of a Conv2d layer (its weight_exp in [-6, 0] is applied by the neuron). The vectors
    bias_mant, vth_mant and scale have one entry per row of `weight`: per neuron (Dense) or
    per output channel (Conv2d).

    current (state units, LSB/64) = (sum over dense_parts of dense_shift(w @ input, exp) << 6)
                                    + (bias_mant << bias_exp);  threshold = vth_mant << 6;
    a convolution: (conv(input, weight) << (6 + weight_exp)) + (bias_mant << bias_exp).
    scale: (out,) per-neuron state-mantissa units per float current unit (float current
           of neuron i * scale[i] ~ its a_in); IF dynamics and CRPI are linear in (v, theta,
           I), so each neuron may have its own scale.
    weight_low: a Dense layer's split weights (docs/fixed_point.md): the low byte, a second
           stock Dense with exponent weight_exp - LOW_WEIGHT_SHIFT whose output the neuron
           adds to the first's; None: one 8-bit Dense.
    """
    weight: np.ndarray
    weight_exp: int
    bias_mant: np.ndarray
    bias_exp: int
    vth_mant: np.ndarray
    scale: np.ndarray
    weight_low: np.ndarray | None = None

    def __post_init__(self):
        w = np.asarray(self.weight)
        object.__setattr__(self, "weight", _as_int("FixedLayer.weight", w, w.shape, -256, 254))
        object.__setattr__(self, "weight_exp", as_integer("FixedLayer.weight_exp",
                                                          self.weight_exp))
        object.__setattr__(self, "bias_exp", as_integer("FixedLayer.bias_exp", self.bias_exp))
        if self.weight_low is not None:
            if w.ndim != 2:
                raise ValueError("FixedLayer.weight_low: only a Dense layer's weights split")
            object.__setattr__(self, "weight_low", _as_int("FixedLayer.weight_low",
                                                           self.weight_low, w.shape, -256, 254))
            if int(self.weight_exp) - LOW_WEIGHT_SHIFT < -8:
                raise ValueError(f"FixedLayer: split weights need weight_exp >= "
                                 f"{LOW_WEIGHT_SHIFT - 8}, got {self.weight_exp}")
        n = w.shape[0]
        object.__setattr__(self, "bias_mant",
                           _as_int("FixedLayer.bias_mant", self.bias_mant, (n,), -4096, 4095))
        object.__setattr__(self, "vth_mant",
                           _as_int("FixedLayer.vth_mant", self.vth_mant, (n,), 0, 2 ** 17 - 1))
        if not -8 <= int(self.weight_exp) <= 7:
            raise ValueError(f"FixedLayer.weight_exp must lie in [-8, 7], got {self.weight_exp}")
        if not 0 <= int(self.bias_exp) <= 7:
            raise ValueError(f"FixedLayer.bias_exp must lie in [0, 7], got {self.bias_exp}")
        object.__setattr__(self, "scale", _as_vector("FixedLayer.scale", self.scale, n))
        if np.any(self.scale <= 0):
            raise ValueError("FixedLayer.scale: scales must be > 0")

    @property
    def dense_parts(self) -> list[tuple[np.ndarray, int]]:
        """[(integer weights, exponent)] of the stock Dense processes feeding the neurons."""
        return dense_parts(self.weight, self.weight_exp, self.weight_low)

    @property
    def bias_state(self) -> np.ndarray:
        return self.bias_mant << self.bias_exp

    @property
    def threshold_state(self) -> np.ndarray:
        return self.vth_mant << 6


@dataclasses.dataclass(frozen=True)
class FixedProfile:
    """The Loihi fixed-point numbers of a SpikingGraph.

    input_scale:  (obs_dim,) payload units per observation unit, per dimension; payload =
                  clip(round(obs * input_scale), +-(2**(input_bits-1) - 1)) travels as a
                  graded spike into layer 0.
    readout:      integer weights (act, n_last) with exponent readout_exp; the readout sums
                  dense_shift(weight @ spikes, exp) over the decision's T steps into `acc`;
                  the host decodes z = acc / (readout_scale * T) + readout.bias (float);
                  readout_scale (act,) is per action dimension.
    readout_weight_low: the readout's split weights (as FixedLayer.weight_low) or None.
    """
    input_scale: np.ndarray
    input_bits: int
    hidden: tuple[FixedLayer, ...]
    readout_weight: np.ndarray
    readout_exp: int
    readout_scale: np.ndarray
    headroom_bits: int = 4
    readout_weight_low: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(self.hidden))
        for name in ("input_bits", "readout_exp", "headroom_bits"):
            object.__setattr__(self, name, as_integer(f"FixedProfile.{name}",
                                                      getattr(self, name)))
        w = np.asarray(self.readout_weight)
        object.__setattr__(self, "readout_weight",
                           _as_int("FixedProfile.readout_weight", w, w.shape, -256, 254))
        if self.readout_weight_low is not None:
            object.__setattr__(self, "readout_weight_low", _as_int(
                "FixedProfile.readout_weight_low", self.readout_weight_low, w.shape, -256, 254))
            if not LOW_WEIGHT_SHIFT - 8 <= int(self.readout_exp) <= 7:
                raise ValueError(f"FixedProfile: split readout weights need readout_exp in "
                                 f"[{LOW_WEIGHT_SHIFT - 8}, 7], got {self.readout_exp}")
        if not 2 <= int(self.input_bits) <= 24:
            raise ValueError(f"FixedProfile.input_bits must lie in [2, 24] (Loihi 2 graded "
                             f"spike payload), got {self.input_bits}")
        object.__setattr__(self, "readout_scale", _as_vector(
            "FixedProfile.readout_scale", np.atleast_1d(self.readout_scale), w.shape[0]))
        scale = np.atleast_1d(np.asarray(self.input_scale, dtype=np.float64))
        object.__setattr__(self, "input_scale", _as_vector(
            "FixedProfile.input_scale", scale, scale.size))
        if np.any(self.input_scale <= 0):
            raise ValueError("FixedProfile.input_scale: scales must be > 0")
        n_in = int(np.prod(self.hidden[0].weight.shape[1:]))   # fan-in of a layer-0 neuron
        if 2 ** (int(self.input_bits) - 1) * 256 * n_in >= 2 ** 31:
            raise ValueError(f"FixedProfile: {self.input_bits}-bit payloads x 8-bit weights x "
                             f"{n_in} inputs can overflow Lava's 32-bit dendritic accumulator; "
                             f"use fewer input bits")

    @property
    def readout_parts(self) -> list[tuple[np.ndarray, int]]:
        """[(integer weights, exponent)] of the readout's stock Dense processes."""
        return dense_parts(self.readout_weight, self.readout_exp, self.readout_weight_low)


@dataclasses.dataclass(frozen=True)
class SpikingLayer:
    """Spiking layer: input current I = weight @ x_prev + bias, per-neuron threshold (out,)
    >= 0 (0: the neuron never emits any amplitude)."""
    synapse: Synapse
    threshold: np.ndarray

    def __post_init__(self):
        th = _as_vector("SpikingLayer.threshold", self.threshold, self.synapse.shape[0])
        if np.any(th < 0):
            raise ValueError("SpikingLayer.threshold: thresholds must be >= 0")
        if isinstance(self.synapse, Conv2d):
            per_channel(th, self.synapse.channel_of, "SpikingLayer.threshold of a Conv2d layer")
        object.__setattr__(self, "threshold", th)


@dataclasses.dataclass(frozen=True)
class SpikingGraph:
    """The converted policy (see the module docstring for its semantics)."""
    hidden: tuple[SpikingLayer, ...]
    readout: Dense
    head: ActionHead
    timesteps: int
    membrane: MembranePolicy = MembranePolicy()
    neuron: NeuronModel = NeuronModel()
    env_id: str = ""
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)  # gym.make keywords
    source: dict[str, Any] = dataclasses.field(default_factory=dict)
    calibration: dict[str, Any] = dataclasses.field(default_factory=dict)
    fixed: FixedProfile | None = None
    input_clip: InputClip | None = None

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if not self.hidden:
            raise ValueError("SpikingGraph: at least one hidden spiking layer is required")
        _check_input_clip(self.input_clip, self.obs_dim, "SpikingGraph")
        if self.fixed is not None:
            shapes = [h.synapse.weight.shape for h in self.hidden]
            fixed_shapes = [f.weight.shape for f in self.fixed.hidden]
            if fixed_shapes != shapes or self.fixed.readout_weight.shape != self.readout.shape:
                raise ValueError(f"SpikingGraph: fixed profile shapes {fixed_shapes} do not "
                                 f"match the graph's {shapes}")
            if self.fixed.input_scale.size != self.hidden[0].synapse.shape[1]:
                raise ValueError(f"SpikingGraph: fixed profile has "
                                 f"{self.fixed.input_scale.size} input scales for "
                                 f"{self.hidden[0].synapse.shape[1]} observations")
            if any(isinstance(h.synapse, Conv2d) and not -6 <= f.weight_exp <= 0
                   for h, f in zip(self.hidden, self.fixed.hidden)):
                raise ValueError("SpikingGraph: a Conv2d layer's weight exponent must lie in "
                                 "[-6, 0] (the neuron applies it as a_in << (6 + exp))")
        _check_chain([*(h.synapse for h in self.hidden), self.readout], "SpikingGraph")
        if not isinstance(self.timesteps, (int, np.integer)) or \
                not 1 <= self.timesteps <= MAX_TIMESTEPS:
            raise ValueError(f"SpikingGraph: timesteps T must be an integer in [1, "
                             f"{MAX_TIMESTEPS}], got {self.timesteps!r}")
        if not isinstance(self.neuron, NeuronModel):
            raise ValueError(f"SpikingGraph: neuron must be a NeuronModel, got {self.neuron!r}")

    @property
    def obs_dim(self) -> int:
        return self.hidden[0].synapse.shape[1]

    @property
    def act_dim(self) -> int:
        return self.readout.shape[0]

    @property
    def encoder(self) -> str:
        """constant_current (rate coding: the observation at every step) or change
        (differential coding: the observation once, at step 1)."""
        return "change" if self.neuron.coding == "differential" else "constant_current"

    def unit(self, layer: int) -> np.ndarray:
        """(n,) float amplitude of event code 1 in hidden layer `layer`."""
        return self.hidden[layer].threshold / 2 ** (self.neuron.n_levels - 1)

    @property
    def profile(self) -> str:
        return "fixed" if self.fixed is not None else "float"

    def replace(self, **changes) -> "SpikingGraph":
        return dataclasses.replace(self, **changes)


def _as_fraction(name: str, a, size: int) -> np.ndarray:
    a = _as_vector(name, a, size)
    if np.any(a < 0) or np.any(a >= 1):
        raise ValueError(f"{name}: decay factors must lie in [0, 1), got "
                         f"[{a.min():.4g}, {a.max():.4g}]")
    return a


# Adaptive-LIF model constants (docs/snn_control.md): one definition, used by training
# (loihi_deploy.training.snn.layers) and by the lowering to AlifLayer (compiler.frontend).
ALIF_DT = 2e-3                   # seconds per substep
ALIF_THRESHOLD_DECAY = 10.0      # threshold base decays by this much per second
ALIF_ADAPTATION_XI = 0.05        # threshold increase per unit of adaptation


@dataclasses.dataclass(frozen=True)
class AlifLayer:
    """Adaptive current-based LIF layer of a trained SNN, float, threshold base 1.
    synapse: Dense (n, n_in), the trained weights with the membrane gain (1 - beta_mem)
    folded into each row; syn_decay, mem_decay, ada_decay: (n,) per-substep factors beta;
    threshold_step: threshold base decrease per substep; adaptation_jump: (n,) threshold
    increase per spike (xi (1 - beta_ada))."""
    synapse: Dense
    syn_decay: np.ndarray
    mem_decay: np.ndarray
    ada_decay: np.ndarray
    adaptation_jump: np.ndarray
    threshold_step: float

    def __post_init__(self):
        n = self.synapse.shape[0]
        for name in ("syn_decay", "mem_decay", "ada_decay"):
            object.__setattr__(self, name, _as_fraction(f"AlifLayer.{name}",
                                                        getattr(self, name), n))
        object.__setattr__(self, "adaptation_jump",
                           _as_vector("AlifLayer.adaptation_jump", self.adaptation_jump, n))
        if not 0 <= float(self.threshold_step) < 1:
            raise ValueError(f"AlifLayer.threshold_step must lie in [0, 1), got "
                             f"{self.threshold_step}")


@dataclasses.dataclass(frozen=True)
class LeakyReadout:
    """r = decay * r + synapse(spikes) (gain 1 - decay folded into synapse); (act,) decay."""
    synapse: Dense
    decay: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "decay", _as_fraction("LeakyReadout.decay", self.decay,
                                                       self.synapse.shape[0]))


@dataclasses.dataclass(frozen=True)
class TrainedFixedProfile:
    """Loihi fixed point of a TrainedSpikingGraph (compiler.quantize.quantize_trained).
    layers[k]: FixedLayer (weights, exponent, bias, scale; its vth_mant << 6 is the threshold
    base at rest); decays: per layer (syn, mem, ada) 12-bit mantissas (n,) each;
    threshold_step, adaptation_jump: per layer (n,) state units; readout: FixedLayer (its
    vth_mant unused) and its decay mantissa (act,); the host reads tanh(r / (64 scale)).
    input_scale (obs_dim,) and input_bits: graded payloads as in FixedProfile."""
    input_scale: np.ndarray
    input_bits: int
    layers: tuple[FixedLayer, ...]
    decays: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]
    threshold_step: tuple[np.ndarray, ...]
    adaptation_jump: tuple[np.ndarray, ...]
    readout: FixedLayer
    readout_decay: np.ndarray
    headroom_bits: int = 4


@dataclasses.dataclass(frozen=True)
class TrainedSpikingGraph:
    """A directly trained SNN (module docstring). Input: observation, target and, for a run
    trained with --input-change, the observation's change (encoded by the host)."""
    layers: tuple[AlifLayer, ...]
    readout: LeakyReadout
    substeps: int
    task: str = ""
    source: dict[str, Any] = dataclasses.field(default_factory=dict)
    fixed: TrainedFixedProfile | None = None

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ValueError("TrainedSpikingGraph: at least one spiking layer is required")
        _check_chain([*(layer.synapse for layer in self.layers), self.readout.synapse],
                     "TrainedSpikingGraph")
        if not isinstance(self.substeps, (int, np.integer)) or self.substeps < 1:
            raise ValueError(f"TrainedSpikingGraph: substeps must be an integer >= 1, got "
                             f"{self.substeps!r}")

    @property
    def obs_dim(self) -> int:
        """Inputs per env step (observation, target and maybe its change, concatenated)."""
        return self.layers[0].synapse.shape[1]

    @property
    def act_dim(self) -> int:
        return self.readout.synapse.shape[0]

    @property
    def profile(self) -> str:
        return "fixed" if self.fixed is not None else "float"

    def replace(self, **changes) -> "TrainedSpikingGraph":
        return dataclasses.replace(self, **changes)
