"""Replay the bundled policies' recorded evaluations under several BLAS / torch kernel sets.

    .venv/bin/python tools/replay_kernels.py [--kernels default,Haswell,Sandybridge,Nehalem]
        [--policies NAME,...] [--out docs/results/replay_kernels.md]

Each kernel set runs in its own process (OPENBLAS_CORETYPE is read when numpy's OpenBLAS
loads; ATEN_CPU_CAPABILITY when torch loads). Prints, per policy and kernel set, how many
episodes repeat the recorded return bit for bit and what loihi_deploy.stats.replay_agrees
says (docs/reproducibility.md). Never set these variables in tests or CI: on some processors
the machine sets OPENBLAS_CORETYPE because other kernels crash there.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys


def replay(names: list[str]) -> list[dict]:
    """In this process (kernel set already chosen): replay each policy's recorded evaluation."""
    import numpy as np
    from threadpoolctl import threadpool_info

    from loihi_deploy.api import load_ann
    from loihi_deploy.stats import replay_agrees
    from loihi_deploy.training.train import EVAL_SEED
    from loihi_deploy.zoo import bundled_policies, recorded_evaluation
    from loihi_deploy.runtime.closed_loop import AnnController, run_episodes
    zoo = bundled_policies()
    blas = [f"{p.get('internal_api')} {p.get('architecture')}" for p in threadpool_info()
            if p.get("user_api") == "blas"]
    rows = []
    for name in names:
        meta = zoo[name]
        recorded = recorded_evaluation(meta)
        graph = load_ann(pathlib.Path(meta["path"]), meta["env_id"])   # env_kwargs: its metadata's
        returns = run_episodes(AnnController(graph), meta["env_id"],
                               EVAL_SEED + np.arange(len(recorded)),
                               env_kwargs=meta.get("env_kwargs")).returns
        check = replay_agrees(returns, recorded)
        rows.append({"policy": name, "blas": ", ".join(blas),
                     "identical": int(np.sum(np.abs(returns - recorded) <= 0.005)),
                     "episodes": len(recorded), "recorded_mean": check.recorded_mean,
                     "replayed_mean": check.replayed_mean, "difference": check.difference,
                     "half_width": check.half_width, "agrees": check.agrees})
    return rows


def cpu_name() -> str:
    """The processor's model name and widest vector extension (Linux /proc/cpuinfo), for the
    table's header: which machine the kernels ran on."""
    import platform
    try:
        info = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown processor"
    fields = {key.strip(): value.strip() for key, value in
              (line.split(":", 1) for line in info.splitlines() if ":" in line)}
    model = fields.get("model name") or platform.processor() or "unknown processor"
    flags = set(fields.get("flags", "").split())
    widest = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model}, {widest}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernels", default="default,Haswell,Sandybridge,Nehalem",
                        help="comma list of OPENBLAS_CORETYPE values; 'default' = unset")
    parser.add_argument("--torch-capability", default="avx2",
                        help="ATEN_CPU_CAPABILITY for every run (torch's kernels)")
    parser.add_argument("--policies", default=None, help="comma list (default: every state "
                        "policy of the zoo; pixel policies also depend on the renderer)")
    parser.add_argument("--out", default=None, help="also write the table as markdown here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(replay(args.worker.split(","))))
        return 0
    from loihi_deploy.zoo import bundled_policies
    names = args.policies.split(",") if args.policies else \
        [n for n, m in bundled_policies().items() if not m["env_id"].endswith("-pixels")]
    lines = ["| policy | OPENBLAS_CORETYPE | BLAS kernels in use | episodes repeating bit for "
             "bit | recorded mean | replayed mean | difference ± 99.9% CI | replay_agrees |",
             "|---|---|---|---|---|---|---|---|"]
    print(lines[0])
    ok = True
    for kernel in args.kernels.split(","):
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE",
                                                                 "OPENBLAS_L2_SIZE")}
        if kernel != "default":
            env["OPENBLAS_CORETYPE"] = kernel
        env["ATEN_CPU_CAPABILITY"] = args.torch_capability
        out = subprocess.run([sys.executable, __file__, "--worker", ",".join(names)], env=env,
                             capture_output=True, text=True)
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"replay_kernels: the worker for OPENBLAS_CORETYPE={kernel} failed: {last}",
                  file=sys.stderr)
            return 2
        for row in json.loads(out.stdout.strip().splitlines()[-1]):
            ok &= row["agrees"]
            line = (f"| {row['policy']} | {kernel} | {row['blas']} | {row['identical']}/"
                    f"{row['episodes']} | {row['recorded_mean']:.1f} | {row['replayed_mean']:.1f}"
                    f" | {row['difference']:+.1f} ± {row['half_width']:.1f} | "
                    f"{'yes' if row['agrees'] else 'NO'} |")
            lines.append(line)
            print(line, flush=True)
    if args.out:
        pathlib.Path(args.out).write_text(
            "# Replaying the bundled policies' recorded evaluations under other BLAS kernels\n\n"
            f"Generated by `python tools/replay_kernels.py --kernels {args.kernels} "
            f"--torch-capability {args.torch_capability} --out {args.out}` on {cpu_name()}; "
            "docs/reproducibility.md explains it.\n\n" + "\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
