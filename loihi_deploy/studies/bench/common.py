"""Policies, the shared sweep machinery and the results files of every part."""
from __future__ import annotations

import collections
import dataclasses
import json
import pathlib
import sys
import time

from loihi_deploy.api import COMPILE_DEFAULTS, calibrate_policy, evaluate_ann, load_ann, sweep
from loihi_deploy.compiler.calibrate import DEFAULT_PERCENTILE
from loihi_deploy.compiler.convert import convert
from loihi_deploy.compiler.files import (atomic_write_text, read_bounded, read_json_object,
                                         schema_error)
from loihi_deploy.compiler.ir import MembranePolicy, NeuronModel
from loihi_deploy.stats import mean_ci95


PAPER_ACTORS = pathlib.Path(__file__).resolve().parents[4] / "shared" / "reference_actors"
PAPER_ENVS = ("Ant-v4", "HalfCheetah-v4", "Hopper-v4", "Walker2d-v4")
FULL_CONFIGS = ([("if", T) for T in (8, 16, 32, 64)] + [("snm", T) for T in (4, 8, 16)]
                + [("mt:4", T) for T in (1, 2, 4)] + [("dc:4", T) for T in (1, 2, 4)])
QUICK_CONFIGS = [("if", 4), ("snm", 4), ("mt:4", 2), ("dc:4", 2)]
BUNDLED_CONFIGS = [("if", 16), ("mt:4", 2)]    # the project's own policies, full mode
# clip study: (neuron, T, wider alternative clip in units); defaults are NeuronModel's
CLIP_CONFIGS = [("snm", 4, 1.0), ("mt:4", 2, 6.0), ("dc:4", 2, 6.0)]
PIXEL_CONFIGS = [("if", 32), ("if", 64), ("snm", 8), ("snm", 16), ("mt:4", 2), ("dc:4", 2)]
PIXEL_ALPHAS = [0.0, 0.5, 1.0]     # a coarse grid: pixel rows cost ~100x a state row


# every part but calibration deploys as `loihi-deploy compile` does by default
_DEFAULT_METHOD = COMPILE_DEFAULTS.calib_method
_DEFAULT_PERCENTILE = COMPILE_DEFAULTS.percentile or DEFAULT_PERCENTILE.get(_DEFAULT_METHOD, 100.0)
CALIBRATION = (f"the compile default, --calib-method {_DEFAULT_METHOD} at percentile "
               f"{_DEFAULT_PERCENTILE:g} over {COMPILE_DEFAULTS.calib_episodes} ANN episodes "
               f"(reset seeds {COMPILE_DEFAULTS.calib_seed}.."
               f"{COMPILE_DEFAULTS.calib_seed + COMPILE_DEFAULTS.calib_episodes - 1}; "
               "docs/calibration.md)")


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    label: str      # short name in tables
    policy: str     # bundled name or path
    env_id: str
    env_kwargs: dict = dataclasses.field(default_factory=dict)   # gym.make keywords


def paper_policies(algos=("TD3",)) -> list[PolicySpec]:
    """The paper's actors of these algorithms (TD3, SAC; docs/conversion.md section 4) that
    are present."""
    return [PolicySpec(f"paper {algo} {env}", str(PAPER_ACTORS / f"{algo}_{env}_actor.pt"), env)
            for algo in algos for env in PAPER_ENVS
            if (PAPER_ACTORS / f"{algo}_{env}_actor.pt").exists()]


def bundled_policy_specs(names=None, pixels: bool = False) -> list[PolicySpec]:
    """Bundled state policies (pixels=False) or pixel policies (pixels=True); names: only
    these (each must be a bundled policy of that kind), None: all of that kind."""
    from loihi_deploy.zoo import bundled_policies
    from loihi_deploy.runtime.pixels import is_pixel_env
    zoo = bundled_policies()
    kind = {name for name, meta in zoo.items() if is_pixel_env(meta["env_id"]) == pixels}
    unknown = [name for name in (names or []) if name not in kind]
    if unknown:
        raise ValueError(f"not bundled {'pixel' if pixels else 'state'} policies: "
                         f"{', '.join(unknown)}; the bundled ones are {', '.join(sorted(kind))}")
    return [PolicySpec(name, name, meta["env_id"], meta.get("env_kwargs", {}))
            for name, meta in zoo.items()
            if (names is None or name in names) and is_pixel_env(meta["env_id"]) == pixels]


def _row_key(row: dict) -> tuple:
    return row["policy"], row["neuron"], row["timesteps"], row.get("clip")


NUMBER, MAYBE_NUMBER = (int, float), (int, float, type(None))
_STATS = {"mean": NUMBER, "ci95": NUMBER}
# a row of run_part (_sweep_row's); "?" marks a key only some parts add (pixels: cost)
SWEEP_ROW = {"policy": str, "env_id": str, "neuron": str, "timesteps": int, "clip": MAYBE_NUMBER,
             "episodes": int, "alphas": [NUMBER], "ann": _STATS, "snn_mean": [NUMBER],
             "snn_ci95": [NUMBER], "selected_alpha": NUMBER,
             "test": {"reset_seeds": [int], "ann": NUMBER,
                      "vanilla": {**_STATS, "ratio": NUMBER},
                      "selected": {**_STATS, "ratio": NUMBER},
                      "delta_vs_vanilla": NUMBER, "delta_ci95": NUMBER, "better": bool},
             "seconds": NUMBER,
             "cost?": {"events_per_decision": NUMBER, "energy_uj": NUMBER,
                       "ann_energy_uj": NUMBER}}


def read_rows(path: pathlib.Path, hint: str = "delete the file or run the part without --resume"
              ) -> tuple[dict, list[dict]]:
    """(settings, rows) of a part's results file (this bench's own output, read as untrusted:
    a run folder may have been edited or damaged), every row checked against SWEEP_ROW and
    alphas, snn_mean and snn_ci95 of one length. ValueError naming the file and the row;
    hint: what the user can do."""
    saved = read_json_object(path, {"settings": dict, "rows": list})
    for i, row in enumerate(saved["rows"]):
        error = schema_error(row, SWEEP_ROW)
        if error is None and not len(row["alphas"]) == len(row["snn_mean"]) == \
                len(row["snn_ci95"]):
            error = "alphas, snn_mean and snn_ci95 differ in length"
        if error:
            raise ValueError(f"{path}: row {i} is damaged ({error}); {hint}")
    return saved["settings"], saved["rows"]


class _Results:
    """Rows of one part, saved atomically after every row (resumable)."""

    def __init__(self, path: pathlib.Path, settings: dict, resume: bool, wanted: set):
        """resume: keep the saved rows of this run's settings whose keys are `wanted`
        (the rows this run would compute), saying what is dropped."""
        self.path, self.settings = path, settings
        self.rows: list[dict] = []
        if resume and path.exists():
            saved_settings, rows = read_rows(path)
            if saved_settings != settings:
                print(f"{path}: its {len(rows)} rows were run with other settings "
                      f"({saved_settings} here {settings}); not resumed, recomputed",
                      file=sys.stderr)
                rows = []
            twice = [k for k, n in collections.Counter(map(_row_key, rows)).items() if n > 1]
            wrong = [r for r in rows if r["alphas"] != settings["alphas"]]
            if twice or wrong:
                what = f"holds the row {twice[0]} twice" if twice else \
                    f"the row {_row_key(wrong[0])} swept other alphas than its settings"
                raise ValueError(f"{path}: {what}; delete the file or run the part without "
                                 f"--resume")
            self.rows = [r for r in rows if _row_key(r) in wanted]
            if len(self.rows) < len(rows):
                print(f"{path}: {len(rows) - len(self.rows)} saved rows are not in this run's "
                      f"policies and configs; dropped", file=sys.stderr)
                self._save()
        self.done = {_row_key(r) for r in self.rows}

    def add(self, row: dict) -> None:
        self.rows.append(row)
        self.done.add(_row_key(row))
        self._save()

    def _save(self) -> None:
        atomic_write_text(self.path, json.dumps({"settings": self.settings, "rows": self.rows},
                                                indent=1))


def _sweep_row(spec, ann, cal, ann_returns, neuron, T, clip, alphas, episodes, seed, workers,
               ray_address):
    start = time.perf_counter()
    graph = convert(ann, cal, T, MembranePolicy("crpi", 0.0, clip), spec.env_id,
                    NeuronModel.parse(neuron))
    result = sweep(graph, ann, spec.env_id, alphas, episodes, seed, workers=workers,
                   ann_returns=ann_returns, ray_address=ray_address, env_kwargs=spec.env_kwargs,
                   test_episodes=episodes)
    ann_mean, ann_ci = mean_ci95(ann_returns)
    stats = [mean_ci95(r) for r in result.snn_returns]
    held = result.held_out
    test_ann = mean_ci95(held.ann_returns)[0]
    (van, van_ci), (sel, sel_ci) = mean_ci95(held.vanilla_returns), mean_ci95(held.selected_returns)
    delta, delta_ci = held.delta()
    return {"policy": spec.label, "env_id": spec.env_id, "neuron": str(graph.neuron),
            "timesteps": T, "clip": clip, "episodes": episodes, "alphas": result.alphas,
            "ann": {"mean": ann_mean, "ci95": ann_ci},
            "snn_mean": [m for m, _ in stats], "snn_ci95": [c for _, c in stats],
            "selected_alpha": held.alpha,
            "test": {"reset_seeds": [held.seed, held.seed + episodes - 1], "ann": test_ann,
                     "vanilla": {"mean": van, "ci95": van_ci, "ratio": van / test_ann},
                     "selected": {"mean": sel, "ci95": sel_ci, "ratio": sel / test_ann},
                     "delta_vs_vanilla": delta, "delta_ci95": delta_ci,
                     "better": held.better},
            "seconds": round(time.perf_counter() - start, 1)}


def run_part(part: str, specs: list[PolicySpec], configs, alphas, episodes: int, seed: int,
             out: pathlib.Path, workers: int | None, resume: bool, progress: bool = True,
             ray_address: str | None = None, cache: dict | None = None):
    """Run one part: configs of (neuron, T) (conversion) or of (neuron, T, alternative clip)
    (clip study: each config runs with the default clip and the alternative); configs may be
    a function of the policy. cache: policy label -> (ann, calibration), shared with _graph
    (filled here, so a later part of the same run need not calibrate again)."""
    from tqdm.auto import tqdm
    alphas = [float(a) for a in alphas]
    if alphas[0] != 0.0:
        raise ValueError("the alpha grid must start at 0 (vanilla)")
    settings = {"alphas": alphas, "episodes": episodes, "seed": seed,
                "calibration": CALIBRATION,
                "selection": "alpha with the highest mean on the selection episodes, reported "
                             "on as many test episodes from seed + 10000"}
    key = lambda job: (job[0].label, str(NeuronModel.parse(job[1])), job[2], job[3])  # noqa: E731
    jobs = [(spec, config[0], config[1], clip) for spec in specs
            for config in (configs(spec) if callable(configs) else configs)
            for clip in (None, *config[2:])]
    results = _Results(out / f"{part}.json", settings, resume, {key(job) for job in jobs})
    jobs = [job for job in jobs if key(job) not in results.done]
    bar = tqdm(total=len(jobs), desc=f"bench {part}", unit="row", disable=not progress)
    cache = {} if cache is None else cache
    ann_returns: dict = {}
    for spec, neuron, T, clip in jobs:
        ann, cal = calibrated_ann(spec, cache)
        if spec.label not in ann_returns:
            ann_returns[spec.label] = evaluate_ann(ann, spec.env_id, episodes, seed,
                                                   env_kwargs=spec.env_kwargs)
        bar.set_postfix_str(f"{spec.env_id} {neuron} T={T}" + (f" clip {clip}" if clip else ""))
        results.add(_sweep_row(spec, ann, cal, ann_returns[spec.label], neuron, T, clip, alphas,
                               episodes, seed, workers, ray_address))
        bar.update(1)
    bar.close()
    return results.rows


ANALYSIS_CONFIGS = [("if", 16), ("snm", 8), ("mt:4", 2), ("dc:4", 2)]


def calibrated_ann(spec: PolicySpec, cache: dict):
    """(ann, calibration) of spec (CALIBRATION), cached by its label."""
    if spec.label not in cache:
        ann = load_ann(spec.policy, spec.env_id, spec.env_kwargs)
        cache[spec.label] = (ann, calibrate_policy(ann, spec.env_id,
                                                   env_kwargs=spec.env_kwargs))
    return cache[spec.label]


def nudged_thresholds(graph, relative: float):
    """The graph with every hidden threshold multiplied by 1 + relative (the chaos floors of
    the fidelity and calibration tables: docs/fixed_point.md, docs/calibration.md)."""
    return graph.replace(hidden=[dataclasses.replace(layer, threshold=layer.threshold
                                                     * (1 + relative))
                                 for layer in graph.hidden])


def calibrated_graph(spec: PolicySpec, cache: dict, neuron: str, T: int):
    """(ann, graph (crpi, alpha per row), calibration) with calibration cached per policy."""
    ann, cal = calibrated_ann(spec, cache)
    graph = convert(ann, cal, T, MembranePolicy("crpi", 0.0), spec.env_id,
                    NeuronModel.parse(neuron))
    return ann, graph, cal


PARTS = ("conversion", "crpi_clip", "amplification", "cost", "fidelity", "simulator", "pixels",
         "nir", "calibration", "pacing", "snn_speed")


def check_output_folder(out: pathlib.Path, names: list[str]) -> None:
    """Before any work: `out` a writable folder (created), none of its files `names` a FIFO,
    device or folder (reading or replacing one hung or failed after the work); ValueError or
    OSError naming the path."""
    import tempfile
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (out / name).exists() and not (out / name).is_file():
            raise ValueError(f"{out / name}: is not a regular file (a folder, FIFO or device); "
                             f"remove it or use another --out")
    try:
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise OSError(exc.errno, f"--out {out}: cannot write there ({exc.strerror})") from None


def write_part(out: pathlib.Path, name: str, payload, markdown: str) -> None:
    atomic_write_text(out / f"{name}.json", json.dumps(payload, indent=1, default=float))
    atomic_write_text(out / f"{name}.md", markdown)


def write_index(out: pathlib.Path, prefix: str, command: str) -> pathlib.Path:
    """OUT/<prefix>README.md: every part's markdown that exists, with its figures and the
    command that writes it; `command`: the invocation that ran last."""
    titles = {"conversion": "Conversion study", "crpi_clip": "CRPI clip radius",
              "amplification": "Error amplification", "cost": "Cost per decision",
              "fidelity": "Float vs Loihi fixed point", "simulator": "Simulator performance",
              "pixels": "Pixel policies (convolutional)", "nir": "NIR semantics and snnTorch",
              "calibration": "Calibration seed spread",
              "pacing": "Real-time paced control on Lava",
              "snn_speed": "Training speed of directly trained SNNs"}
    figures = {"conversion": ["conversion_alpha.png"], "amplification": ["amplification.png"],
               "pixels": ["pixels_alpha.png"]}
    quick = " --quick" if prefix else ""
    lines = ["# Results", "", "Each section is written by `loihi-deploy bench --parts PART"
             f"{quick}` (`loihi-deploy bench{quick}` runs them all; code in "
             f"loihi_deploy/studies/bench/), named under its heading; the last run was "
             f"`{command}`. Each section's numbers are in the JSON file of the same name.", "",
             "Closed-loop returns were measured on one machine; float rollouts are chaotic and "
             "their last bits depend on the CPU's BLAS kernels, so another machine gives other "
             "means within the printed intervals (docs/reproducibility.md). Fixed-point rows "
             "depend on it too, through the calibration rollouts. Timings are this machine's.",
             "", f"Closed-loop returns outside the calibration study come from graphs "
             f"calibrated by {CALIBRATION}; a section that does not name its calibration was "
             "written before that was the default, with the paper's per-neuron maximum over "
             "10 ANN episodes.", ""]
    for part in PARTS:
        md = out / f"{prefix}{part}.md"
        if not md.exists():
            continue
        lines += [f"## {titles[part]}", "", f"`loihi-deploy bench --parts {part}{quick}`", "",
                  read_bounded(md).decode(errors="replace").strip(), ""]
        lines += [f"![{part}]({prefix}{fig})" for fig in figures.get(part, [])
                  if (out / f"{prefix}{fig}").exists()]
        lines.append("")
    return atomic_write_text(out / f"{prefix}README.md", "\n".join(lines))
