"""Make lava-nc 0.10.0 importable on Python 3.11 (idempotent).

lava-nc 0.10.0 declares Requires-Python <3.11 and is archived upstream. Its one 3.11
incompatibility (docs/lava.md section 1) is in lava/magma/compiler/var_model.py: dataclass fields
`x: ByteEncoder = ByteEncoder()` use a mutable default, which Python 3.11 rejects. This script
rewrites them as `field(default_factory=ByteEncoder)` in the installed copy.

Usage: python tools/patch_lava.py   (run by `make install`)
"""
import importlib.util
import pathlib
import re
import sys

MUTABLE_DEFAULT = re.compile(r"(\w+): ByteEncoder = ByteEncoder\(\)")
IMPORT_LINE = "from dataclasses import dataclass, InitVar"


def var_model_path() -> pathlib.Path:
    spec = importlib.util.find_spec("lava")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("patch_lava: lava-nc is not installed in this interpreter "
                 f"({sys.executable}); run `make install`.")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "magma/compiler/var_model.py"


def patch(text: str) -> str:
    text = MUTABLE_DEFAULT.sub(r"\1: ByteEncoder = field(default_factory=ByteEncoder)", text)
    if "field(default_factory" in text and "import dataclass, InitVar, field" not in text:
        if IMPORT_LINE not in text:
            raise SystemExit("patch_lava: unexpected var_model.py (import line not found); "
                             "is this lava-nc 0.10.0?")
        text = text.replace(IMPORT_LINE, IMPORT_LINE + ", field", 1)
    return text


def main() -> None:
    path = var_model_path()
    old = path.read_text()
    new = patch(old)
    if new != old:
        path.write_text(new)
        print(f"patch_lava: patched {path}")
    else:
        print(f"patch_lava: already patched ({path})")


if __name__ == "__main__":
    main()
