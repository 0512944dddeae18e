"""The package structure holds (docs/architecture.md):

- imports point down only: loihi_deploy (product, studies, training) > runtime > sim_backend
  > compiler, at module level and inside functions alike;
- compiler imports no environment library and no Lava;
- one import name: nothing imports the bare folder names, the package list in pyproject.toml
  covers every package folder, and after installation `import compiler` fails;
- the product surface of loihi_deploy imports neither the studies nor (except to load what
  training wrote) the training code;
- code cites docs inside the repository, never a file outside it.
"""
import ast
import pathlib
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAYERS = {"loihi_deploy": 3, "runtime": 2, "sim_backend": 1, "compiler": 0}
FOLDERS = ("loihi_deploy", "runtime", "sim_backend", "compiler")
FORBIDDEN_IN_COMPILER = ("gymnasium", "mujoco", "lava", "torch.nn.functional")


def _package_of_file(path: pathlib.Path) -> str:
    return path.relative_to(ROOT).parts[0]


def _layer_of_module(name: str) -> str | None:
    """'loihi_deploy.compiler.ir' -> 'compiler'; 'loihi_deploy.api' -> 'loihi_deploy'."""
    parts = name.split(".")
    if parts[0] != "loihi_deploy":
        return None
    if len(parts) > 1 and parts[1] in LAYERS and parts[1] != "loihi_deploy":
        return parts[1]
    return "loihi_deploy"


def imports(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            if node.module == "loihi_deploy":
                found += [(node.lineno, f"loihi_deploy.{a.name}") for a in node.names]
    return found


def source_files():
    for folder in FOLDERS:
        yield from sorted((ROOT / folder).rglob("*.py"))


def import_graph() -> dict[tuple[str, str], int]:
    """(from layer, to layer) -> number of import statements."""
    graph: dict[tuple[str, str], int] = {}
    for path in source_files():
        here = _package_of_file(path)
        for _, module in imports(path):
            there = _layer_of_module(module)
            if there and there != here:
                graph[here, there] = graph.get((here, there), 0) + 1
    return graph


def test_imports_point_down_only():
    upward = []
    for path in source_files():
        here = _package_of_file(path)
        for line, module in imports(path):
            there = _layer_of_module(module)
            if there and LAYERS[there] > LAYERS[here]:
                upward.append(f"{path.relative_to(ROOT)}:{line}: {here} imports {module}")
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)
    print("import graph (from -> to: statements):",
          ", ".join(f"{a} -> {b}: {n}" for (a, b), n in sorted(import_graph().items())))


def test_compiler_is_pure():
    offenders = [f"{path.relative_to(ROOT)}:{line}: {module}"
                 for path in sorted((ROOT / "compiler").rglob("*.py"))
                 for line, module in imports(path)
                 if module.split(".")[0] in ("gymnasium", "mujoco", "lava")]
    assert not offenders, "compiler imports an environment or Lava:\n" + "\n".join(offenders)


def test_nothing_imports_the_bare_folder_names():
    bare = [f"{path.relative_to(ROOT)}:{line}: {module}"
            for path in [*source_files(), *sorted((ROOT / "tests").rglob("*.py")),
                         *sorted((ROOT / "tools").rglob("*.py"))]
            for line, module in imports(path)
            if module.split(".")[0] in ("compiler", "runtime", "sim_backend")]
    assert not bare, "bare imports (use loihi_deploy.<name>):\n" + "\n".join(bare)


def test_the_product_does_not_import_the_studies():
    product = [p for p in sorted((ROOT / "loihi_deploy").glob("*.py"))]
    offenders = [f"{path.relative_to(ROOT)}:{line}: {module}" for path in product
                 for line, module in imports(path)
                 if module.startswith("loihi_deploy.studies")
                 and path.name != "cli.py"]     # the CLI dispatches `bench` to the studies
    assert not offenders, "\n".join(offenders)


def test_pyproject_lists_every_package_folder():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed, mapping = set(config["packages"]), config["package-dir"]
    on_disk = set()
    for name, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base).parts
            if name == "loihi_deploy" and rel and rel[0] in ("compiler", "runtime", "sim_backend"):
                continue
            on_disk.add(".".join((name, *rel)))
    assert on_disk == listed, f"missing: {on_disk - listed}; stale: {listed - on_disk}"


def test_code_cites_docs_inside_the_repository():
    outside = [f"{path.relative_to(ROOT)}:{i + 1}: {line.strip()}"
               for path in source_files()
               for i, line in enumerate(path.read_text().splitlines())
               if "REFERENCE" in line or "../shared/docs" in line or "ARCHITECTURE.md" in line]
    assert not outside, "cite docs/ in the repository instead:\n" + "\n".join(outside)


def test_installed_names_outside_the_repository(tmp_path):
    """From a directory outside the checkout: the subpackages import, the bare names do not."""
    code = ("import importlib.util, loihi_deploy.compiler.ir, loihi_deploy.runtime.closed_loop, "
            "loihi_deploy.sim_backend.emulator\n"
            "print([n for n in ('compiler', 'runtime', 'sim_backend') "
            "if importlib.util.find_spec(n) is not None])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"bare names importable: {out.stdout}"


def test_the_wheel_holds_one_top_level_name(tmp_path):
    """Build the wheel (no network: setuptools is already installed) and list its top level;
    it carries what `loihi-deploy setup-lava` and `python -m loihi_deploy` need."""
    import shutil
    import zipfile
    source = tmp_path / "src"      # a clean copy of the tracked files: no stale build/ folder
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(source)], check=True, capture_output=True,
                   timeout=600)
    wheel = next(tmp_path.glob("loihi_deploy-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"loihi_deploy"}, top
    for needed in ("loihi_deploy/compiler/ir.py", "loihi_deploy/sim_backend/lava_procs/models.py",
                   "loihi_deploy/policies/halfcheetah_v5_td3.pt",
                   "loihi_deploy/training/snn/assets/panda_torque.xml",
                   "loihi_deploy/setup_lava.py", "loihi_deploy/__main__.py"):
        assert needed in names, needed
