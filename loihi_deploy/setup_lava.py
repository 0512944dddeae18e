"""`loihi-deploy setup-lava`: install Lava into the running environment and make it work on
Python 3.11 (idempotent; `make install` runs the same code).

lava-nc 0.10.0 and lava-dl 0.6.0 declare Requires-Python <3.11 (and lava-dl pins torch 2.3 and
torchvision), and they are archived upstream (docs/lava.md section 1). So: pip installs them
without their metadata checks, then their pure dependencies under versions that work here
(numpy<2: Lava hangs with numpy 2), then the one 3.11 incompatibility is patched in the
installed copy: lava/magma/compiler/var_model.py declares dataclass fields
`x: ByteEncoder = ByteEncoder()`, a mutable default that Python 3.11 rejects; they become
`field(default_factory=ByteEncoder)`.
"""
from __future__ import annotations

import importlib.util
import pathlib
import re
import subprocess
import sys

LAVA = ["lava-nc==0.10.0", "lava-dl==0.6.0"]
LAVA_DEPENDENCIES = ["numpy>=1.26,<2", "scipy>=1.10,<1.15", "scikit-learn<1.7",
                     "networkx<=2.8.7", "asteval<0.10"]

MUTABLE_DEFAULT = re.compile(r"(\w+): ByteEncoder = ByteEncoder\(\)")
IMPORT_LINE = "from dataclasses import dataclass, InitVar"


def var_model_path() -> pathlib.Path:
    spec = importlib.util.find_spec("lava")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"lava-nc is not installed in this interpreter ({sys.executable}); "
                           f"run `loihi-deploy setup-lava`")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "magma/compiler/var_model.py"


def patch(text: str) -> str:
    text = MUTABLE_DEFAULT.sub(r"\1: ByteEncoder = field(default_factory=ByteEncoder)", text)
    if "field(default_factory" in text and "import dataclass, InitVar, field" not in text:
        if IMPORT_LINE not in text:
            raise RuntimeError("unexpected lava/magma/compiler/var_model.py (import line not "
                               "found); is this lava-nc 0.10.0?")
        text = text.replace(IMPORT_LINE, IMPORT_LINE + ", field", 1)
    return text


def apply_patch() -> str:
    """Patch the installed lava-nc for Python 3.11; returns what was done."""
    path = var_model_path()
    old = path.read_text()
    new = patch(old)
    if new == old:
        return f"already patched ({path})"
    path.write_text(new)
    return f"patched {path}"


def pip_commands(constraints: str | None = None) -> list[list[str]]:
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    constrain = ["-c", constraints] if constraints else []
    return [[*pip, "--no-deps", "--ignore-requires-python", *LAVA],
            [*pip, *constrain, *LAVA_DEPENDENCIES]]


def setup_lava(constraints: str | None = None, dry_run: bool = False) -> None:
    """Install lava-nc/lava-dl into this interpreter's environment and patch them."""
    for command in pip_commands(constraints):
        print("$ " + " ".join(command), flush=True)
        if not dry_run:
            subprocess.run(command, check=True)
    if dry_run:
        return
    print(f"setup-lava: {apply_patch()}")
    check = subprocess.run([sys.executable, "-c", "from loihi_deploy.sim_backend.lava_support "
                            "import require_lava; require_lava(); print('Lava ok')"],
                           capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"Lava does not import after set-up: {check.stderr.strip()[-500:]}")
    print(f"setup-lava: {check.stdout.strip()}")
