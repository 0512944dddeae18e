"""A NIR file written by compiler.export_nir, imported by snnTorch and run as a controller.

snntorch.import_nir.import_from_nir builds the network (Linear layers and, for the exported
CubaLIF nodes, snn.Synaptic neurons that keep their own state); this module runs it in float64
for T steps per decision (snnTorch keeps float32 copies of the weights and emits float32
spikes: the file's float64 weights are put back into the same modules, and the spikes, 0 or 1
exactly, are cast before each synaptic layer) with the observation as a constant input,
resets every neuron to NIR's initial state (0) at each decision's start, averages the readout
over the T steps and applies the action head from the export's metadata: the NIR semantics of
the export (docs/nir.md), which compiler.export_nir.nir_semantics gives the emulator.
Needs snntorch and nirtorch (the dev extra).
"""
from __future__ import annotations

import contextlib
import io
import json
import pathlib

import numpy as np


def snntorch_available() -> tuple[bool, str]:
    try:
        import nirtorch  # noqa: F401
        import snntorch  # noqa: F401
    except ImportError as exc:
        return False, f"snnTorch is not installed ({exc}); pip install 'loihi-deploy[dev]'"
    return True, ""


class SnnTorchController:
    """Controller (runtime.closed_loop protocol) running an exported NIR file in snnTorch."""

    def __init__(self, path: str | pathlib.Path):
        import nir
        import torch
        from snntorch.import_nir import import_from_nir
        graph = nir.read(str(path))
        meta = json.loads(graph.metadata.get("loihi_deploy", "null") or "null")
        if not isinstance(meta, dict):
            raise ValueError(f"{path}: not a NIR file exported by loihi-deploy (no metadata)")
        with contextlib.redirect_stdout(io.StringIO()):   # snnTorch prints its progress
            self.net = import_from_nir(graph).double()
        for name, module in self.net.named_modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
                node = graph.nodes[name]   # snnTorch stored float32 copies of these
                module.weight.data = torch.from_numpy(np.asarray(node.weight, np.float64))
                module.bias.data = torch.from_numpy(np.asarray(node.bias, np.float64))
                module.register_forward_pre_hook(lambda _, args: tuple(   # float32 spikes
                    a.double() if torch.is_tensor(a) else a for a in args))
        self.timesteps = int(meta["timesteps"])
        self.head_scale = np.asarray(meta["head_scale"], dtype=np.float64)
        self.head_offset = np.asarray(meta["head_offset"], dtype=np.float64)
        clip = meta.get("input_clip")
        self.clip = None if clip is None else (np.asarray(clip["low"]), np.asarray(clip["high"]))
        self.torch = torch

    def reset(self) -> None:
        pass   # every decision starts from NIR's initial state (act resets the neurons)

    def _reset_neurons(self) -> None:
        import snntorch
        for module in self.net.modules():
            if isinstance(module, snntorch.SpikingNeuron):
                module.reset_mem()   # this module's state (reset_hidden clears every instance)

    def readout(self, obs: np.ndarray) -> np.ndarray:
        """(B, obs_dim) -> (B, act_dim) readout averaged over the T steps of one decision."""
        x = np.asarray(obs, dtype=np.float64)
        if self.clip is not None:
            x = np.clip(x, *self.clip)
        x = self.torch.from_numpy(x)
        self._reset_neurons()
        acc = 0.0
        with self.torch.no_grad():
            for _ in range(self.timesteps):
                out = self.net(x)
                acc = acc + (out[0] if isinstance(out, tuple) else out)
        return acc.numpy() / self.timesteps

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.head_offset + self.head_scale * np.tanh(self.readout(obs))
