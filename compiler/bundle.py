"""Deployment bundle: one self-describing HDF5 file holding a SpikingGraph.

Header: the file starts with a 512-byte HDF5 user block (ignored by HDF5 readers) holding
    "LOIHI-DEPLOY-BUNDLE\nschema=<n>\nsha256=<hex of every byte after the user block>\n".
The loader checks it before any HDF5 parsing: libhdf5 can crash the process (segfault) on
corrupted files, so it only ever sees bytes whose hash matches.
Layout (schema 4):
    attrs   format = "loihi-deploy-bundle", schema_version, env_id,
            neuron ("if" | "snm" | "mt:<levels>" | "dc:<levels>" | "dc-if"), timesteps,
            membrane ("vanilla" | "free" | "crpi:<alpha>[:<clip>]"),
            encoder ("constant_current" | "change", implied by the neuron's coding), profile,
            source (JSON: kind, path, sha256 of the source policy), calibration (JSON),
            versions (JSON), env_kwargs (JSON object: gymnasium keyword arguments the env
            is made with; optional, {} when absent)
    hidden/<i>/weight (out, in), hidden/<i>/bias (out,), hidden/<i>/threshold (out,); a
            convolution (schema 3): weight (C_out, C_in, kh, kw), bias (C_out,), threshold
            per neuron, and group attrs kind = "conv2d", in_shape (C, H, W), stride, padding
    readout/weight (act, n_last), readout/bias (act,)
    head/scale (act,), head/offset (act,)      action = offset + scale * tanh(z)
    input_clip/low, input_clip/high (obs_dim,)  optional: observations clipped to [low, high]
            before layer 0 (compiler.ir.InputClip; SB3 VecNormalize's clip)
    fixed/...  (profile "fixed" only) the Loihi fixed-point numbers (compiler.ir.FixedProfile):
            fixed/hidden/<i>/{weight, bias_mant, vth_mant} with attrs weight_exp, bias_exp,
            scale; fixed/readout_weight; attrs input_scale, input_bits, readout_exp,
            readout_scale, headroom_bits; fixed/input_scale (obs_dim,); split weights
            (schema 4): fixed/hidden/<i>/weight_low and fixed/readout_weight_low
Writes are atomic (temp file + rename); loading checks the header, the hash and every field
and raises BundleError naming the file and the problem.
Schema history (older schemas load through a migration): 1 = IF neurons only, membrane
without a clip; it reads unchanged as schema 2 (neuron "if", the model's default clip).
2 = dense layers only; it reads unchanged as schema 3 (convolutions added). 3 = one 8-bit
Dense per layer; it reads unchanged as schema 4 (split weights added).
Bundles written before env_kwargs existed that name Ant-v5 with 27 observations were made for
Ant-v5 without contact forces (the toolchain then redefined Ant-v5 so): they load with
env_kwargs {"include_cfrc_ext_in_observation": False}.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import platform

import numpy as np

from loihi_deploy.compiler.files import (MAX_FILE_BYTES, atomic_write_bytes, hdf5_bytes,
                                         parse_json, sha256_file)
from loihi_deploy.compiler.ir import (ActionHead, Conv2d, Dense, EnvSpaces, FixedLayer,
                                      FixedProfile, InputClip, MembranePolicy, NeuronModel,
                                      SpikingGraph, SpikingLayer, as_integer)
from loihi_deploy.compiler.limits import check_env_kwargs

FORMAT = "loihi-deploy-bundle"
SCHEMA_VERSION = 4
MAGIC = b"LOIHI-DEPLOY-BUNDLE\n"
HEADER_SIZE = 512  # the HDF5 user block
_SCALAR_ATTRS = ("env_id", "neuron", "timesteps", "membrane", "encoder", "profile")
_JSON_ATTRS = ("source", "calibration")


class BundleError(ValueError):
    """A bundle file is missing, corrupt, of an unknown schema, or does not fit the env."""


def tool_versions() -> dict[str, str]:
    import importlib.metadata as md
    versions = {"python": platform.python_version()}
    for name in ("loihi-deploy", "numpy", "h5py", "torch", "gymnasium", "mujoco", "lava-nc"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return versions


def _arrays(graph: SpikingGraph) -> dict[str, np.ndarray]:
    arrays = {}
    for i, layer in enumerate(graph.hidden):
        arrays[f"hidden/{i}/weight"] = layer.synapse.weight
        arrays[f"hidden/{i}/bias"] = layer.synapse.bias
        arrays[f"hidden/{i}/threshold"] = layer.threshold
    arrays["readout/weight"] = graph.readout.weight
    arrays["readout/bias"] = graph.readout.bias
    arrays["head/scale"] = graph.head.scale
    arrays["head/offset"] = graph.head.offset
    if graph.input_clip is not None:
        arrays["input_clip/low"] = graph.input_clip.low
        arrays["input_clip/high"] = graph.input_clip.high
    if graph.fixed is not None:
        for i, q in enumerate(graph.fixed.hidden):
            for field in _FIXED_LAYER_ARRAYS:
                arrays[f"fixed/hidden/{i}/{field}"] = getattr(q, field)
            if q.weight_low is not None:
                arrays[f"fixed/hidden/{i}/weight_low"] = q.weight_low
        arrays["fixed/readout_weight"] = graph.fixed.readout_weight
        if graph.fixed.readout_weight_low is not None:
            arrays["fixed/readout_weight_low"] = graph.fixed.readout_weight_low
        arrays["fixed/readout_scale"] = graph.fixed.readout_scale
        arrays["fixed/input_scale"] = graph.fixed.input_scale
    return arrays


_FIXED_LAYER_ARRAYS = ("weight", "bias_mant", "vth_mant", "scale")
_FIXED_LAYER_ATTRS = ("weight_exp", "bias_exp")
_FIXED_ATTRS = ("input_bits", "readout_exp", "headroom_bits")


def _fixed_attrs(fixed: FixedProfile | None) -> dict[str, object]:
    if fixed is None:
        return {}
    attrs = {f"fixed_{k}": getattr(fixed, k) for k in _FIXED_ATTRS}
    for i, q in enumerate(fixed.hidden):
        attrs.update({f"fixed_hidden{i}_{k}": getattr(q, k) for k in _FIXED_LAYER_ATTRS})
    return attrs


def _attrs(graph: SpikingGraph) -> dict[str, object]:
    return {"env_id": graph.env_id, "neuron": str(graph.neuron), "timesteps": int(graph.timesteps),
            "membrane": str(graph.membrane), "encoder": graph.encoder, "profile": graph.profile,
            "source": json.dumps(graph.source, sort_keys=True, default=str),
            "calibration": json.dumps(graph.calibration, sort_keys=True, default=str),
            "env_kwargs": json.dumps(graph.env_kwargs, sort_keys=True),
            **_fixed_attrs(graph.fixed)}


def with_header(raw: bytes, schema: int = SCHEMA_VERSION) -> bytes:
    """An HDF5 image made with a HEADER_SIZE-byte user block, with our header written into it
    (magic, schema, sha256 of everything after the user block)."""
    digest = hashlib.sha256(raw[HEADER_SIZE:]).hexdigest()
    header = MAGIC + f"schema={schema}\nsha256={digest}\n".encode()
    return header.ljust(HEADER_SIZE, b"\0") + raw[HEADER_SIZE:]


def write_header(path: pathlib.Path, schema: int = SCHEMA_VERSION) -> None:
    """(Re)write the user-block header of an HDF5 file created with a 512-byte user block."""
    path = pathlib.Path(path)
    atomic_write_bytes(path, with_header(path.read_bytes(), schema))


def _check_header(path: pathlib.Path) -> None:
    """Raise BundleError unless the header is ours, the schema known and the hash right
    (the size checked before anything is read, the hash computed in blocks)."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise BundleError(f"{path}: {size} bytes, more than the {MAX_FILE_BYTES} a bundle may "
                          f"have")
    with open(path, "rb") as f:
        raw = f.read(HEADER_SIZE)
    if not raw.startswith(MAGIC):
        import h5py
        kind = "an HDF5 file without the loihi-deploy header" if h5py.is_hdf5(path) else \
            "not an HDF5 file either"
        raise BundleError(f"{path}: not a loihi-deploy bundle ({kind})")
    fields = dict(line.split("=", 1) for line in
                  raw[len(MAGIC):HEADER_SIZE].rstrip(b"\0").decode("ascii", "replace").split()
                  if "=" in line)
    try:
        schema = int(fields.get("schema", "-1"))
    except ValueError:
        schema = -1
    if schema > SCHEMA_VERSION:
        raise BundleError(f"{path}: bundle schema {schema} is newer than this loihi-deploy "
                          f"supports ({SCHEMA_VERSION}); upgrade loihi-deploy")
    if schema < 1:
        raise BundleError(f"{path}: unknown bundle schema in the header ({fields.get('schema')!r})")
    if size <= HEADER_SIZE or sha256_file(path, HEADER_SIZE) != fields.get("sha256"):
        raise BundleError(f"{path}: checksum mismatch (the file is truncated, or was corrupted "
                          f"or modified after it was written)")


def save_bundle(graph: SpikingGraph, path: str | os.PathLike) -> pathlib.Path:
    """Write the bundle atomically (compiler.files): built in memory, header and checksum
    added, then renamed into place."""
    arrays, attrs = _arrays(graph), _attrs(graph)

    def build(f):
        f.attrs["format"] = FORMAT
        f.attrs["schema_version"] = SCHEMA_VERSION
        for key, value in attrs.items():
            f.attrs[key] = value
        f.attrs["versions"] = json.dumps(tool_versions(), sort_keys=True)
        for name, a in arrays.items():
            dtype = np.float64 if name.endswith("scale") or not name.startswith("fixed/") \
                else np.int64
            f.create_dataset(name, data=np.asarray(a, dtype=dtype))
        for i, layer in enumerate(graph.hidden):
            if isinstance(layer.synapse, Conv2d):
                group = f[f"hidden/{i}"]
                group.attrs.update({"kind": "conv2d", "in_shape": layer.synapse.in_shape,
                                    "stride": layer.synapse.stride,
                                    "padding": layer.synapse.padding})
    body = hdf5_bytes(build, HEADER_SIZE)
    return atomic_write_bytes(path, with_header(body))


MAX_ARRAY_ELEMENTS = 1 << 26   # per dataset (a 64M-element float64 array is 512 MiB)
MAX_TOTAL_ELEMENTS = 1 << 27   # per file


def check_hdf5_structure(f, path, max_elements: int = MAX_ARRAY_ELEMENTS,
                         max_total: int = MAX_TOTAL_ELEMENTS, error=ValueError) -> None:
    """Refuse what would make reading an untrusted HDF5 file reach outside it or allocate
    unbounded memory: external and soft links, datasets stored in external files or assembled
    from other files (virtual), non-numeric datasets, and declared sizes above the limits."""
    import h5py
    total = 0

    def walk(group, prefix):
        nonlocal total
        for key in group:
            link = group.get(key, getlink=True)
            name = f"{prefix}{key}"
            if not isinstance(link, h5py.HardLink):
                raise error(f"{path}: {name} is a {type(link).__name__}; links out of the file "
                            f"(or soft links) are not allowed")
            obj = group[key]
            if isinstance(obj, h5py.Group):
                walk(obj, name + "/")
                continue
            if obj.is_virtual or obj.external:
                raise error(f"{path}: dataset {name} keeps its data outside the file")
            if obj.dtype.kind not in "biuf S":
                raise error(f"{path}: dataset {name} has unsupported type {obj.dtype}")
            size = int(np.prod(obj.shape, dtype=np.float64)) if obj.shape else 1
            if size > max_elements:
                raise error(f"{path}: dataset {name} declares shape {obj.shape} ({size} "
                            f"elements), more than the {max_elements} allowed")
            total += size
            if total > max_total:
                raise error(f"{path}: datasets declare more than {max_total} elements in all")
    walk(f, "")


def _read(f, path, name: str) -> np.ndarray:
    if name not in f:
        raise BundleError(f"{path}: missing dataset {name!r}")
    return np.asarray(f[name][()], dtype=np.float64)


def load_bundle(path: str | os.PathLike) -> SpikingGraph:
    import h5py
    path = pathlib.Path(path)
    if path.is_dir():
        raise BundleError(f"{path}: is a directory, not a bundle file")
    if not path.is_file():
        raise BundleError(f"{path}: " + ("not a regular file (a FIFO, device or socket)"
                                         if path.exists() else "no such bundle file"))
    if path.stat().st_size == 0:
        raise BundleError(f"{path}: empty file (zero bytes)")
    _check_header(path)
    try:
        with h5py.File(path, "r") as f:
            check_hdf5_structure(f, path, error=BundleError)
            fmt = f.attrs.get("format")
            if fmt != FORMAT:
                raise BundleError(f"{path}: not a loihi-deploy bundle (format attribute is "
                                  f"{fmt!r}, expected {FORMAT!r})")
            version = int(f.attrs.get("schema_version", -1))
            if version > SCHEMA_VERSION:
                raise BundleError(f"{path}: bundle schema {version} is newer than this "
                                  f"loihi-deploy supports ({SCHEMA_VERSION}); upgrade loihi-deploy")
            if version < 1:
                raise BundleError(f"{path}: unknown bundle schema version {version}")
            missing = [k for k in (*_SCALAR_ATTRS, *_JSON_ATTRS) if k not in f.attrs]
            if missing:
                raise BundleError(f"{path}: missing attributes {missing}")
            attrs = {k: f.attrs[k] for k in (*_SCALAR_ATTRS, *_JSON_ATTRS)}
            attrs.update({k: f.attrs[k] for k in f.attrs if k.startswith("fixed_")})
            attrs["env_kwargs"] = f.attrs.get("env_kwargs", "null")
            attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in attrs.items()}
            n_hidden = len(f["hidden"]) if "hidden" in f else 0
            arrays = {}
            conv_geometry = {}
            for i in range(n_hidden):
                for field in ("weight", "bias", "threshold"):
                    arrays[f"hidden/{i}/{field}"] = _read(f, path, f"hidden/{i}/{field}")
                group_attrs = f[f"hidden/{i}"].attrs
                if group_attrs.get("kind") == "conv2d":
                    conv_geometry[i] = (tuple(np.atleast_1d(group_attrs["in_shape"]).tolist()),
                                        group_attrs["stride"], group_attrs["padding"])
            for name in ("readout/weight", "readout/bias", "head/scale", "head/offset"):
                arrays[name] = _read(f, path, name)
            if "input_clip" in f:
                for name in ("input_clip/low", "input_clip/high"):
                    arrays[name] = _read(f, path, name)
            if attrs["profile"] == "fixed":
                for i in range(n_hidden):
                    for field in _FIXED_LAYER_ARRAYS:
                        name = f"fixed/hidden/{i}/{field}"
                        arrays[name] = _read(f, path, name)
                    if f"fixed/hidden/{i}/weight_low" in f:
                        arrays[f"fixed/hidden/{i}/weight_low"] = _read(
                            f, path, f"fixed/hidden/{i}/weight_low")
                for name in ("fixed/readout_weight", "fixed/readout_scale", "fixed/input_scale"):
                    arrays[name] = _read(f, path, name)
                if "fixed/readout_weight_low" in f:
                    arrays["fixed/readout_weight_low"] = _read(f, path,
                                                               "fixed/readout_weight_low")
    except BundleError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:  # h5py's errors
        raise BundleError(f"{path}: corrupt bundle ({type(exc).__name__}: {exc})") from None
    if attrs["profile"] not in ("float", "fixed"):
        raise BundleError(f"{path}: unknown numeric profile {attrs['profile']!r} (expected "
                          f"'float' or 'fixed')")
    try:
        fixed = _load_fixed(arrays, attrs, n_hidden) if attrs["profile"] == "fixed" else None
        hidden = tuple(SpikingLayer(_synapse(arrays, i, conv_geometry.get(i)),
                                    arrays[f"hidden/{i}/threshold"]) for i in range(n_hidden))
        graph = SpikingGraph(
            hidden=hidden,
            readout=Dense(arrays["readout/weight"], arrays["readout/bias"]),
            head=ActionHead(arrays["head/scale"], arrays["head/offset"]),
            timesteps=as_integer("attribute timesteps", attrs["timesteps"]),
            membrane=MembranePolicy.parse(str(attrs["membrane"])),
            neuron=NeuronModel.parse(str(attrs["neuron"])),
            env_id=str(attrs["env_id"]), env_kwargs=_env_kwargs(attrs, arrays),
            source=_json_object(attrs, "source"),
            calibration=_json_object(attrs, "calibration"), fixed=fixed,
            input_clip=InputClip(arrays["input_clip/low"], arrays["input_clip/high"])
            if "input_clip/low" in arrays else None)
    except (ValueError, KeyError, TypeError, OverflowError) as exc:   # JSON errors included
        raise BundleError(f"{path}: invalid bundle contents ({type(exc).__name__}: "
                          f"{str(exc)[:300]})") from None
    if str(attrs["encoder"]) != graph.encoder:
        raise BundleError(f"{path}: encoder {attrs['encoder']!r} does not match neuron "
                          f"{graph.neuron} (expected {graph.encoder!r})")
    return graph


def _json_object(attrs: dict, name: str) -> dict:
    """A JSON-object attribute (source, calibration): ValueError unless it is one."""
    value = parse_json(attrs[name], f"attribute {name}")
    if not isinstance(value, dict):
        raise ValueError(f"attribute {name}: expected a JSON object, got a "
                         f"{type(value).__name__}")
    return value


LEGACY_ANT_V5_KWARGS = {"include_cfrc_ext_in_observation": False}


def _env_kwargs(attrs: dict, arrays: dict) -> dict:
    """The env_kwargs attribute; for bundles without it, the migration in the module docstring."""
    value = parse_json(attrs["env_kwargs"], "attribute env_kwargs")
    if value is None:
        first = arrays["hidden/0/weight"]
        legacy_ant = attrs["env_id"] == "Ant-v5" and first.ndim == 2 and first.shape[1] == 27
        return dict(LEGACY_ANT_V5_KWARGS) if legacy_ant else {}
    if not isinstance(value, dict):
        raise ValueError(f"env_kwargs must be a JSON object, got {type(value).__name__}")
    return check_env_kwargs(value)


def _synapse(arrays: dict, i: int, conv_geometry: tuple | None):
    weight, bias = arrays[f"hidden/{i}/weight"], arrays[f"hidden/{i}/bias"]
    if conv_geometry is None:
        return Dense(weight, bias)
    return Conv2d(weight, bias, *conv_geometry)


def _load_fixed(arrays: dict, attrs: dict, n_hidden: int) -> FixedProfile:
    def attr(name):
        value = attrs[name]
        return value.item() if isinstance(value, np.generic) else value
    layers = tuple(FixedLayer(arrays[f"fixed/hidden/{i}/weight"],
                              attr(f"fixed_hidden{i}_weight_exp"),
                              arrays[f"fixed/hidden/{i}/bias_mant"],
                              attr(f"fixed_hidden{i}_bias_exp"),
                              arrays[f"fixed/hidden/{i}/vth_mant"],
                              arrays[f"fixed/hidden/{i}/scale"],
                              arrays.get(f"fixed/hidden/{i}/weight_low"))
                   for i in range(n_hidden))
    return FixedProfile(arrays["fixed/input_scale"], attr("fixed_input_bits"), layers,
                        arrays["fixed/readout_weight"], attr("fixed_readout_exp"),
                        arrays["fixed/readout_scale"], attr("fixed_headroom_bits"),
                        arrays.get("fixed/readout_weight_low"))


def check_bundle_env(graph: SpikingGraph, spaces: EnvSpaces, where: str) -> None:
    """Raise BundleError if the env's observation/action spaces (runtime.envs.env_spaces) do
    not fit the graph."""
    env_id, obs_dim, act_dim = spaces.env_id, spaces.obs_dim, spaces.act_dim
    low, high = spaces.action_low, spaces.action_high
    if (graph.obs_dim, graph.act_dim) != (obs_dim, act_dim):
        kwargs_hint = (f"; it was compiled with env_kwargs {graph.env_kwargs}"
                       if graph.env_kwargs != spaces.env_kwargs else "")
        made = f" made with env_kwargs {spaces.env_kwargs}" if spaces.env_kwargs else ""
        raise BundleError(f"{where}: compiled for {graph.env_id} ({graph.obs_dim} observations, "
                          f"{graph.act_dim} actions) but {env_id}{made} has {obs_dim} "
                          f"observations, {act_dim} actions{kwargs_hint}")
    expected = ActionHead.from_bounds(low, high)
    if not np.allclose(graph.head.offset, expected.offset) or \
            not np.allclose(graph.head.scale, expected.scale):
        raise BundleError(f"{where}: action bounds differ from {env_id}'s [{low}, {high}]")
