"""Writing files so that a reader never sees half of one (docs/reliability.md).

Every artifact is built in memory (HDF5 through a BytesIO), then written to a temporary file
unique to this process and call in the same folder, flushed, and renamed over the target. A
full disk or a missing folder raises OSError naming the target, and the temporary file is
removed; two writers to one path never share a temporary name.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import uuid
import zipfile
import zlib

MAX_FILE_BYTES = 1 << 30      # largest policy file, zip member or checkpoint read (1 GiB)
MAX_TENSOR_ELEMENTS = 1 << 26  # elements of all tensors in one torch file (512 MiB as float64)
MAX_ARRAY_ELEMENTS = 1 << 28   # elements of all arrays in one .npz a run folder holds
TENSOR_DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32",
                 "int64", "uint8", "bool")


class FileTooLarge(ValueError):
    pass


def read_zip_member(zf: zipfile.ZipFile, name: str, where: str,
                    limit: int | None = None) -> bytes:
    """A zip member's bytes, refusing one whose declared or actual size exceeds `limit`
    (default MAX_FILE_BYTES): a zip bomb stops after limit + 1 inflated bytes."""
    limit = MAX_FILE_BYTES if limit is None else limit
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise FileTooLarge(f"{where}: zip member {name} declares {info.file_size} bytes, more "
                           f"than the {limit} allowed")
    with zf.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(f"{where}: zip member {name} inflates past {limit} bytes (its "
                           f"header declared {info.file_size})")
    return data


def read_sb3_zip(path: str | os.PathLike,
                 pth_members: tuple[str, ...] | None = None) -> tuple[dict, dict[str, bytes]]:
    """A Stable-Baselines3 model zip without unpickling: its `data` member as a JSON object
    (the pickled ':serialized:' entries stay undecoded strings) and the bytes of its `*.pth`
    members (torch files for torch.load(weights_only=True)): those named in `pth_members`, or
    all; each member and their total bounded by MAX_FILE_BYTES. ValueError naming the file
    on anything else."""
    where = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "policy.pth" not in names or "data" not in names:
                raise ValueError(f"{where}: not a Stable-Baselines3 model (zip without "
                                 f"policy.pth/data; has {sorted(names)[:20]})")
            data = parse_json(read_zip_member(zf, "data", where, 64 << 20), f"{where}:data")
            wanted = sorted(n for n in names if n.endswith(".pth")
                            and (pth_members is None or n in pth_members))
            total = sum(zf.getinfo(n).file_size for n in wanted)
            if total > MAX_FILE_BYTES:
                raise FileTooLarge(f"{where}: its .pth members declare {total} bytes together, "
                                   f"more than the {MAX_FILE_BYTES} allowed")
            members = {n: read_zip_member(zf, n, where) for n in wanted}
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{where}: corrupt zip file ({exc})") from None
    except (RuntimeError, EOFError, zlib.error) as exc:   # encrypted, unknown compression
        raise ValueError(f"{where}: unreadable zip member ({type(exc).__name__}: "
                         f"{str(exc)[:200]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: malformed SB3 `data`: a JSON {type(data).__name__}, "
                         f"expected an object")
    return data, members


def parse_json(raw: bytes | str, where: str):
    """json.loads, with every failure (syntax, encoding, nesting deeper than the parser's
    recursion limit, numbers Python will not convert) a ValueError naming `where`."""
    import json
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError(f"{where}: not valid JSON (nested too deeply)") from None
    except ValueError as exc:   # syntax, encoding, an integer of more than 4300 digits
        raise ValueError(f"{where}: not valid JSON ({str(exc)[:200]})") from None


def read_bounded(path: str | os.PathLike, limit: int | None = None) -> bytes:
    """A file's bytes, refusing one larger than `limit` (default MAX_FILE_BYTES)."""
    limit = MAX_FILE_BYTES if limit is None else limit
    path = pathlib.Path(path)
    size = path.stat().st_size
    if not path.is_file():      # a FIFO blocks the read forever, /dev/zero never ends
        raise ValueError(f"{path}: not a regular file")
    if size > limit:
        raise FileTooLarge(f"{path}: {size} bytes, more than the {limit} allowed")
    with open(path, "rb") as f:
        data = f.read(limit + 1)       # a file growing while it is read stops at the limit
    if len(data) > limit:
        raise FileTooLarge(f"{path}: more than the {limit} bytes allowed")
    return data


def sha256_file(path: str | os.PathLike, offset: int = 0) -> str:
    """sha256 of a file's bytes from `offset` on, read in 1 MiB blocks."""
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(offset)
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_torch_weights(data: bytes, where: str):
    """torch.load(weights_only=True) of bytes already read (read_bounded): plain tensors and
    containers only, never pickled code, every tensor checked by check_plain_tensors. Any
    failure is a ValueError naming `where` and why (pickled objects refused, truncated, not a
    torch file, tensors that are not plain dense numbers)."""
    import pickle

    import torch
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{where}: refused: the file is not plain tensors (it would need to "
                         f"run pickled code to load): {str(exc).splitlines()[0][:200]}") from None
    except Exception as exc:  # noqa: BLE001 - truncated / corrupt / not a torch file
        raise ValueError(f"{where}: not a readable torch weights file ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    check_plain_tensors(obj, where)
    return obj


def check_plain_tensors(obj, where: str) -> None:
    """Every tensor in `obj` (nested dicts, lists, tuples of tensors, numbers, strings) is a
    dense CPU tensor of real numbers (TENSOR_DTYPES), and all of them hold at most
    MAX_TENSOR_ELEMENTS elements together: a 3 KB file may declare a stride-0 view of
    10^9 elements, sparse, meta or complex tensors, which converting would blow up or
    silently change. ValueError naming `where` and the tensor otherwise."""
    import torch
    total, stack = 0, [("", obj, 0)]
    while stack:
        name, value, depth = stack.pop()
        if depth > 32:
            raise ValueError(f"{where}: containers nested more than 32 deep")
        if isinstance(value, dict):
            stack += [(f"{name}.{k}" if name else str(k), v, depth + 1) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            stack += [(f"{name}[{i}]", v, depth + 1) for i, v in enumerate(value)]
        elif isinstance(value, torch.Tensor):
            kind = str(value.dtype).removeprefix("torch.")
            if value.layout != torch.strided or value.device.type != "cpu" or \
                    kind not in TENSOR_DTYPES:
                raise ValueError(f"{where}: tensor {name!r} is {value.layout} {kind} on "
                                 f"{value.device.type}; only dense CPU tensors of real "
                                 f"numbers ({', '.join(TENSOR_DTYPES)}) are read")
            total += value.numel()
            if total > MAX_TENSOR_ELEMENTS:
                raise FileTooLarge(f"{where}: its tensors hold more than {MAX_TENSOR_ELEMENTS} "
                                   f"elements (tensor {name!r}: shape {tuple(value.shape)})")
        elif not isinstance(value, (int, float, str, bytes, type(None))):
            raise ValueError(f"{where}: {name!r} is a {type(value).__name__}, not a tensor, "
                             f"number or string")


def read_torch_weights(path: str | os.PathLike) -> object:
    """A torch weights file from disk, bounded in size (read_bounded) and weights-only
    (load_torch_weights); errors name the file."""
    return load_torch_weights(read_bounded(path), str(path))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> pathlib.Path:
    """Write `data` to `path` atomically; OSError (naming `path`) on failure, nothing left."""
    path = pathlib.Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, not a file path")
    if path.exists() and not path.is_file():     # a FIFO or a device: renaming would replace it
        raise OSError(f"{path}: is not a regular file (a FIFO, socket or device); write the "
                      f"output to a file path")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise OSError(exc.errno, f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        with contextlib.suppress(OSError):  # no temp file to remove (its folder is a file...)
            tmp.unlink(missing_ok=True)
    return path


def read_json_object(path: str | os.PathLike, required: dict[str, type] | None = None,
                     limit: int = 64 << 20) -> dict:
    """A JSON object from a file a user may have edited or planted: ValueError naming the file
    unless it parses, is an object, and has each `required` key with the given type."""
    path = pathlib.Path(path)
    obj = parse_json(read_bounded(path, limit), str(path))
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a JSON object, got a {type(obj).__name__}")
    wrong = [f"{key} (expected {kind.__name__})" for key, kind in (required or {}).items()
             if not isinstance(obj.get(key), kind)]
    if wrong:
        raise ValueError(f"{path}: missing or malformed fields: {', '.join(wrong)}")
    return obj


def read_npz(path: str | os.PathLike, names, max_elements: int = MAX_ARRAY_ELEMENTS,
             where: str | None = None) -> dict:
    """Arrays `names` of an .npz file (a path or a file object), each header read first: no
    object arrays (loading them would unpickle) and at most `max_elements` elements in all,
    so a forged header cannot make numpy allocate terabytes; each member's inflated size is
    bounded by what its header declares. ValueError naming the file and the array otherwise."""
    import numpy as np
    where = where or str(path)
    arrays, budget = {}, max_elements
    try:
        with zipfile.ZipFile(path) as zf:
            for name in names:
                member = f"{name}.npy"
                if member not in zf.namelist():
                    raise ValueError(f"{where}: no array {name!r} (has "
                                     f"{sorted(zf.namelist())[:20]})")
                shape, dtype = _npy_header(zf, member, where)
                if dtype.hasobject:
                    raise ValueError(f"{where}: {member} is an object array (refused: loading "
                                     f"it would unpickle)")
                count = int(np.prod(shape, dtype=object))
                if count > budget:
                    raise FileTooLarge(f"{where}: {member} declares shape {shape}, more than "
                                       f"the {max_elements} elements allowed in this file")
                budget -= count
                raw = read_zip_member(zf, member, where, count * dtype.itemsize + 65536)
                try:
                    arrays[name] = np.load(io.BytesIO(raw), allow_pickle=False)
                except ValueError as exc:       # data shorter than the header declares
                    raise ValueError(f"{where}: {member}: {exc}") from None
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{where}: corrupt .npz file ({exc})") from None
    except (RuntimeError, EOFError, zlib.error) as exc:
        raise ValueError(f"{where}: unreadable .npz member ({type(exc).__name__}: "
                         f"{str(exc)[:200]})") from None
    return arrays


def _npy_header(zf: zipfile.ZipFile, member: str, where: str):
    """(shape, dtype) from an .npy member's header, without reading its data."""
    import numpy as np
    with zf.open(member) as stream:
        try:
            version = np.lib.format.read_magic(stream)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f".npy format version {version} is not read")
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(stream)
        except ValueError as exc:
            raise ValueError(f"{where}: {member}: malformed .npy header ({exc})") from None
    return shape, dtype


def strict_json(obj, indent: int | None = 1) -> str:
    """JSON that strict parsers read: NaN and infinities (an interval of one episode, say)
    written as null instead of the bare NaN Python emits."""
    import math

    def finite(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(v) for v in value]
        return value
    return json.dumps(finite(obj), indent=indent, allow_nan=False)


def schema_error(value, schema, where: str = "") -> str | None:
    """Where `value` (parsed JSON) departs from `schema` (a type or tuple of types, [item
    schema] for a list, {key: schema} for an object whose keys ending in "?" are optional),
    or None. A bool is not a number."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return f"{where or 'the row'} is a {type(value).__name__}, not an object"
        for key, item in schema.items():
            name = key.rstrip("?")
            if name not in value:
                if key.endswith("?"):
                    continue
                return f"{where}{'.' if where else ''}{name} is missing"
            error = schema_error(value[name], item, f"{where}{'.' if where else ''}{name}")
            if error:
                return error
        return None
    if isinstance(schema, list):
        if not isinstance(value, list):
            return f"{where} is a {type(value).__name__}, not a list"
        return next((e for i, v in enumerate(value)
                     if (e := schema_error(v, schema[0], f"{where}[{i}]"))), None)
    kinds = schema if isinstance(schema, tuple) else (schema,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        return f"{where} is {value!r}, expected {' or '.join(k.__name__ for k in kinds)}"
    return None


def atomic_write_text(path: str | os.PathLike, text: str) -> pathlib.Path:
    return atomic_write_bytes(path, text.encode())


def hdf5_bytes(build, userblock_size: int = 0) -> bytes:
    """The bytes of an HDF5 file that `build(h5py.File)` fills, made in memory (h5py writes
    nothing to disk, so a full disk cannot fail inside the HDF5 library)."""
    import io

    import h5py
    buffer = io.BytesIO()
    kwargs = {"userblock_size": userblock_size} if userblock_size else {}
    with h5py.File(buffer, "w", **kwargs) as f:
        build(f)
    return buffer.getvalue()
