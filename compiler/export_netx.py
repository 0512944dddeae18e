"""Export to lava-dl's netx HDF5 (docs/lava.md section 4): what Loihi's stock neurons can express.

netx describes layers of stock CUBA LIF neurons (hard reset to 0) behind integer Dense
weights. Of a SpikingGraph it can carry exactly the `cuba` neuron model (IF with a hard reset,
du = 4095, dv = 0, v = 0 at every decision's start) in the stock fixed-point profile
(compiler.quantize: weight exponent 0, bias exponent 6). Everything else is refused, with
the reason (see `not_expressible`): soft reset (IF, SNM), signed or multi-level events (SNM,
MT, DC), running means (DC), and any membrane policy other than vanilla (CRPI, free).

File layout (what netx.hdf5.Network reads):
    layer/0   type input, shape (obs_dim,)  -> Network.inp feeds the first Dense directly,
              graded observation payloads (input_message_bits = the profile's input bits)
    layer/k   type dense, weight (n_k, n_k-1) int, bias (n_k,) = bias_mant (x 2**6 in
              state units), neuron CUBA: iDecay 4096 (du 4095), vDecay 0, vThMant, refDelay 1
    layer/L   type dense without neuron: netx's non-spiking integrator, the readout (its
              current u sums readout << 6 over the decision; bias, 1/T and tanh on the host)
Run it with Network(file, input_message_bits=bits, reset_interval=T + L, reset_offset=1):
block k then resets at the phase its T-step window starts (runtime.netx_runner).
"""
from __future__ import annotations

import io
import os
import pathlib

import numpy as np

from loihi_deploy.compiler.files import atomic_write_bytes, hdf5_bytes
from loihi_deploy.compiler.ir import Conv2d, SpikingGraph


def not_expressible(graph: SpikingGraph) -> list[str]:
    """Why the graph cannot be a netx file (empty: it can)."""
    problems = []
    if graph.neuron.kind != "cuba":
        problems.append(f"{graph.neuron} neurons: netx carries Loihi's stock CUBA neuron (hard "
                        f"reset to 0); soft reset (IF, SNM), signed or multi-level events (SNM, "
                        f"MT, DC) and running means (DC) need custom neuron code. Compile with "
                        f"--neuron cuba for a stock-neuron network")
    if graph.membrane.kind != "vanilla":
        problems.append(f"membrane policy {graph.membrane}: netx networks reset every neuron "
                        f"to 0 at each decision (vanilla); CRPI and free-running membranes "
                        f"need custom neuron code")
    if any(isinstance(h.synapse, Conv2d) for h in graph.hidden):
        problems.append("convolutional layers: this exporter writes dense layers only (and the "
                        "stock profile quantises dense layers only)")
    if graph.fixed is None:
        problems.append("no fixed-point profile: compile with --profile fixed")
    else:
        if any(q.vth_mant.min() != q.vth_mant.max() for q in graph.fixed.hidden):
            problems.append("per-neuron thresholds: a stock LIF process has one vth per layer "
                            "(recompile with --neuron cuba, whose stock profile has one)")
        if any(q.weight_low is not None for q in graph.fixed.hidden) or \
                graph.fixed.readout_weight_low is not None:
            problems.append("split 16-bit weights (a low byte per layer): a netx layer holds "
                            "one 8-bit weight matrix; compile with --weight-bits 8")
    return problems


def export_netx(graph: SpikingGraph, path: str | os.PathLike) -> pathlib.Path:
    """Write the netx HDF5 file atomically; ValueError listing not_expressible() otherwise."""
    return atomic_write_bytes(path, netx_bytes(graph))


def netx_bytes(graph: SpikingGraph) -> bytes:
    """The netx HDF5 file of `graph` (export_netx's content); ValueError listing
    not_expressible() where it has none."""
    problems = not_expressible(graph)
    if problems:
        raise ValueError("cannot export to netx:\n  - " + "\n  - ".join(problems))
    fixed = graph.fixed

    def build(f):
        layer = f.create_group("layer")
        inp = layer.create_group("0")
        inp.create_dataset("type", data=np.bytes_("input"))
        inp.create_dataset("shape", data=np.array([graph.obs_dim]))
        for k, q in enumerate(fixed.hidden, start=1):
            g = layer.create_group(str(k))
            g.create_dataset("type", data=np.bytes_("dense"))
            g.create_dataset("shape", data=np.array([q.weight.shape[0]]))
            g.create_dataset("inFeatures", data=q.weight.shape[1])
            g.create_dataset("outFeatures", data=q.weight.shape[0])
            g.create_dataset("weight", data=q.weight.astype(np.int32))
            g.create_dataset("bias", data=q.bias_mant.astype(np.int32))
            neuron = g.create_group("neuron")
            for key, value in (("type", np.bytes_("CUBA")), ("iDecay", 4096),
                               ("vDecay", 0), ("vThMant", int(q.vth_mant.max())),
                               ("refDelay", 1), ("gradedSpike", False)):
                neuron.create_dataset(key, data=value)
        g = layer.create_group(str(len(fixed.hidden) + 1))
        g.create_dataset("type", data=np.bytes_("dense"))
        g.create_dataset("shape", data=np.array([graph.act_dim]))
        g.create_dataset("inFeatures", data=fixed.readout_weight.shape[1])
        g.create_dataset("outFeatures", data=graph.act_dim)
        g.create_dataset("weight", data=fixed.readout_weight.astype(np.int32))
        f.attrs[CHECKSUM_ATTR] = netx_digest(f)

    return hdf5_bytes(build)


CHECKSUM_ATTR = "loihi_deploy_sha256"   # lava-dl's reader ignores root attributes


def netx_digest(f) -> str:
    """sha256 over every dataset's name, dtype, shape and bytes, in name order."""
    import hashlib

    import h5py
    digest = hashlib.sha256()
    names: list[str] = []
    f.visit(lambda name: names.append(name) if isinstance(f[name], h5py.Dataset) else None)
    for name in sorted(names):
        data = np.asarray(f[name][()])
        digest.update(f"{name}|{data.dtype.str}|{data.shape}|".encode())
        digest.update(data.tobytes())
    return digest.hexdigest()


def check_netx_file(path: str | os.PathLike, graph: SpikingGraph | None = None) -> None:
    """Refuse a netx file that loihi-deploy did not write unchanged: no links out of the file,
    bounded sizes (compiler.bundle.check_hdf5_structure), and the checksum export_netx
    stored; with `graph`, also one that is not graph's export (another bundle's, or graph
    has none). ValueError naming the file and the problem."""
    import h5py

    from loihi_deploy.compiler.bundle import check_hdf5_structure
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: " + ("not a regular file (a FIFO, device or socket)"
                                        if path.exists() else "no such netx file"))
    if not h5py.is_hdf5(path):
        raise ValueError(f"{path}: not an HDF5 file")
    try:
        with h5py.File(path, "r") as f:
            check_hdf5_structure(f, path)
            stored = f.attrs.get(CHECKSUM_ATTR)
            if stored is None:
                raise ValueError(f"{path}: no {CHECKSUM_ATTR} attribute: not written by "
                                 f"`loihi-deploy export --format netx`")
            stored = stored.decode() if isinstance(stored, bytes) else stored
            if netx_digest(f) != stored:
                raise ValueError(f"{path}: checksum mismatch (the file was corrupted or "
                                 f"modified after export)")
    except OSError as exc:
        raise ValueError(f"{path}: unreadable HDF5 file ({exc})") from None
    if graph is None:
        return
    try:
        content = netx_bytes(graph)
    except ValueError as exc:
        raise ValueError(f"{path}: cannot be this bundle's export: the bundle has no netx form "
                         f"({str(exc).splitlines()[-1].strip(' -')})") from None
    with h5py.File(io.BytesIO(content), "r") as f:
        if f.attrs[CHECKSUM_ATTR] != stored:
            raise ValueError(f"{path}: not this bundle's export (another bundle's or "
                             f"another version's); export it again with `loihi-deploy "
                             f"export BUNDLE --format netx`")
