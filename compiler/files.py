"""Writing files so that a reader never sees half of one (docs/reliability.md).

Every artifact is built in memory (HDF5 through a BytesIO), then written to a temporary file
unique to this process and call in the same folder, flushed, and renamed over the target. A
full disk or a missing folder raises OSError naming the target, and the temporary file is
removed; two writers to one path never share a temporary name.
"""
from __future__ import annotations

import io
import os
import pathlib
import uuid
import zipfile

MAX_FILE_BYTES = 1 << 30      # largest policy file, zip member or checkpoint read (1 GiB)


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


def read_sb3_zip(path: str | os.PathLike) -> tuple[dict, dict[str, bytes]]:
    """A Stable-Baselines3 model zip without unpickling: its `data` member as a JSON object
    (the pickled ':serialized:' entries stay undecoded strings) and the bytes of its `*.pth`
    members (torch files for torch.load(weights_only=True)); every member size-bounded.
    ValueError naming the file on anything else."""
    import json
    where = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "policy.pth" not in names or "data" not in names:
                raise ValueError(f"{where}: not a Stable-Baselines3 model (zip without "
                                 f"policy.pth/data; has {sorted(names)})")
            data = json.loads(read_zip_member(zf, "data", where, 64 << 20))
            members = {n: read_zip_member(zf, n, where) for n in sorted(names)
                       if n.endswith(".pth")}
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{where}: corrupt zip file ({exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where}: corrupt SB3 `data` JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: malformed SB3 `data`: a JSON {type(data).__name__}, "
                         f"expected an object")
    return data, members


def read_bounded(path: str | os.PathLike, limit: int | None = None) -> bytes:
    """A file's bytes, refusing one larger than `limit` (default MAX_FILE_BYTES)."""
    limit = MAX_FILE_BYTES if limit is None else limit
    path = pathlib.Path(path)
    size = path.stat().st_size
    if size > limit:
        raise FileTooLarge(f"{path}: {size} bytes, more than the {limit} allowed")
    return path.read_bytes()


def load_torch_weights(data: bytes, where: str):
    """torch.load(weights_only=True) of bytes already read (read_bounded): plain tensors and
    containers only, never pickled code. Any failure is a ValueError naming `where` and why
    (pickled objects refused, truncated or not a torch file)."""
    import pickle

    import torch
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{where}: refused: the file is not plain tensors (it would need to "
                         f"run pickled code to load): {str(exc).splitlines()[0][:200]}") from None
    except Exception as exc:  # noqa: BLE001 - truncated / corrupt / not a torch file
        raise ValueError(f"{where}: not a readable torch weights file ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None


def read_torch_weights(path: str | os.PathLike) -> object:
    """A torch weights file from disk, bounded in size (read_bounded) and weights-only
    (load_torch_weights); errors name the file."""
    return load_torch_weights(read_bounded(path), str(path))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> pathlib.Path:
    """Write `data` to `path` atomically; OSError (naming `path`) on failure, nothing left."""
    path = pathlib.Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, not a file path")
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
        tmp.unlink(missing_ok=True)
    return path


def read_json_object(path: str | os.PathLike, required: dict[str, type] | None = None,
                     limit: int = 64 << 20) -> dict:
    """A JSON object from a file a user may have edited or planted: ValueError naming the file
    unless it parses, is an object, and has each `required` key with the given type."""
    import json
    path = pathlib.Path(path)
    try:
        obj = json.loads(read_bounded(path, limit))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a JSON object, got a {type(obj).__name__}")
    wrong = [f"{key} (expected {kind.__name__})" for key, kind in (required or {}).items()
             if not isinstance(obj.get(key), kind)]
    if wrong:
        raise ValueError(f"{path}: missing or malformed fields: {', '.join(wrong)}")
    return obj


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
