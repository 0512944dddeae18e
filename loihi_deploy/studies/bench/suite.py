"""`loihi-deploy bench`: run the parts and write docs/results/ and its index."""
from __future__ import annotations

import pathlib
import time

from loihi_deploy.compiler.files import atomic_write_text
from loihi_deploy.studies.bench.calibration import calibration_part, format_calibration
from loihi_deploy.studies.bench.amplification import (amplification_part, best_alphas,
                                                     format_amplification, plot_divergence)
from loihi_deploy.studies.bench.common import (ANALYSIS_CONFIGS, BUNDLED_CONFIGS, CLIP_CONFIGS,
                                              FULL_CONFIGS, PARTS, PIXEL_ALPHAS, PIXEL_CONFIGS,
                                              QUICK_CONFIGS, bundled_policy_specs,
                                              check_output_folder, paper_policies, run_part,
                                              write_index, write_part)
from loihi_deploy.studies.bench.conversion import (format_clip, format_conversion,
                                                  plot_alpha_curves)
from loihi_deploy.studies.bench.cost import cost_part, format_cost
from loihi_deploy.studies.bench.fidelity import (FIDELITY_CONFIGS, FIDELITY_EPISODES,
                                                fidelity_part, format_fidelity)
from loihi_deploy.studies.bench.nir import format_nir, nir_part
from loihi_deploy.studies.bench.pacing import (PACING_CONFIGS, PACING_POLICIES, format_pacing,
                                              pacing_part)
from loihi_deploy.studies.bench.pixels import add_pixel_costs, format_pixels
from loihi_deploy.studies.bench.simulator import format_simulator, simulator_part
from loihi_deploy.studies.bench.snn_speed import (QUICK_SPEED_CONFIG, SPEED_CONFIGS,
                                                 format_snn_speed, snn_speed_part)


def run_bench(out: str | pathlib.Path = "docs/results", quick: bool = False,
              parts=PARTS, episodes: int | None = None, workers: int | None = None,
              resume: bool = False, command: str = "loihi-deploy bench",
              ray_address: str | None = None,
              pixel_policies: list[str] | None = None,
              pacing_policies: list[str] | None = None) -> pathlib.Path:
    """Run the parts and write OUT/<part>.{json,md,png} and the README.md index. The sweeps
    of conversion and crpi_clip run on a Ray cluster when ray_address is given."""
    out = pathlib.Path(out)
    prefix = "quick_" if quick else ""
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown bench part(s) {unknown}; parts are {', '.join(PARTS)}")
    check_output_folder(out, [f"{prefix}{name}" for part in PARTS for name in
                              (f"{part}.json", f"{part}.md")] + [f"{prefix}README.md"])
    if quick:
        specs = paper = bundled_policy_specs(["inverted_double_pendulum_v5_td3"])
        configs, clip_configs, alphas = QUICK_CONFIGS, CLIP_CONFIGS[1:2], [0.0, 0.5, 1.0]
        analysis_configs, episodes = QUICK_CONFIGS, episodes or 5
    else:
        paper = paper_policies()
        specs = paper + bundled_policy_specs()
        configs = lambda spec: FULL_CONFIGS if spec in paper else BUNDLED_CONFIGS  # noqa: E731
        clip_configs = CLIP_CONFIGS
        alphas, analysis_configs = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], ANALYSIS_CONFIGS
        episodes = episodes or 30
    if not specs:
        raise ValueError("no policies to benchmark: ../shared/reference_actors is absent and "
                         "no bundled policy was found")
    few = max(2, episodes // 3)   # analysis parts: fewer episodes, more work per episode
    for part in parts:
        start = time.perf_counter()
        name = prefix + part
        if part == "conversion":
            rows = run_part(name, specs, configs, alphas, episodes, 100, out, workers, resume,
                            ray_address=ray_address)
            atomic_write_text(out / f"{name}.md", format_conversion(rows))
            plot_alpha_curves(rows, out / f"{name}_alpha.png")
        elif part == "crpi_clip":
            clip_specs = [s for s in (paper or specs)
                          if "HalfCheetah" in s.env_id or "Hopper" in s.env_id]
            rows = run_part(name, clip_specs or specs[:1], clip_configs, alphas, episodes, 100,
                            out, workers, resume, ray_address=ray_address)
            atomic_write_text(out / f"{name}.md", format_clip(rows))
        elif part == "amplification":
            rows = amplification_part(paper or specs, best_alphas(out, prefix), few)
            write_part(out, name, rows, format_amplification(rows))
            plot_divergence(rows, out / f"{name}.png")
        elif part == "cost":
            rows = cost_part(paper or specs, few, analysis_configs, 20 if quick else 100)
            write_part(out, name, rows, format_cost(rows))
        elif part == "fidelity":
            rows = fidelity_part(paper if quick else (paper_policies(("TD3", "SAC")) or specs),
                                 few if quick else FIDELITY_EPISODES, QUICK_CONFIGS[2:] if quick
                                 else FIDELITY_CONFIGS)
            write_part(out, name, rows, format_fidelity(rows))
        elif part == "pixels":
            pixel_specs = bundled_policy_specs(pixel_policies, pixels=True)
            if not pixel_specs:
                raise ValueError("bench pixels: no bundled pixel policies (make them with "
                                 "`loihi-deploy distill`)")
            if quick:   # the cheapest: InvertedPendulum
                pixel_specs = [s for s in pixel_specs if "Pendulum" in s.env_id][:1] or \
                    pixel_specs[:1]
            pixel_configs = [("mt:4", 2)] if quick else PIXEL_CONFIGS
            n = 2 if quick else min(episodes, 10)
            from threadpoolctl import threadpool_limits
            with threadpool_limits(1):   # calibration and costs run here, in this process
                calibrated: dict = {}
                rows = run_part(name, pixel_specs, pixel_configs, PIXEL_ALPHAS, n, 100, out,
                                workers, resume, ray_address=ray_address, cache=calibrated)
                rows = add_pixel_costs(out / f"{name}.json", pixel_specs, 2, calibrated)
            atomic_write_text(out / f"{name}.md", format_pixels(rows))
            plot_alpha_curves(rows, out / f"{name}_alpha.png")
        elif part == "nir":   # the bundled HalfCheetah policy (quick: the test policy)
            nir_spec = specs[0] if quick else bundled_policy_specs(["halfcheetah_v5_td3"])[0]
            result = nir_part(nir_spec, 3 if quick else 20)
            write_part(out, name, result, format_nir(result))
        elif part == "calibration":   # quick: 2 seeds, one config, two methods
            calibration_specs = specs if quick else paper_policies(("TD3", "SAC")) or specs
            rows = calibration_part(calibration_specs, 3 if quick else 20,
                                    *((0, 1000), ("max", "emax90@2"), (("if", 8),)) if quick
                                    else ())
            write_part(out, name, rows, format_calibration(rows))
        elif part == "pacing":   # quick: Hopper, one config, 100 decisions
            pacing_specs = bundled_policy_specs(
                pacing_policies or (PACING_POLICIES[:1] if quick else PACING_POLICIES))
            rows = pacing_part(pacing_specs, PACING_CONFIGS[:1] if quick else PACING_CONFIGS,
                               100 if quick else 1000)
            write_part(out, name, rows, format_pacing(rows))
        elif part == "snn_speed":   # quick: a tiny network, 2 iterations
            rows = snn_speed_part([QUICK_SPEED_CONFIG] if quick else SPEED_CONFIGS,
                                  iterations=2)
            write_part(out, name, rows, format_snn_speed(rows))
        elif part == "simulator":
            cheetah = [s for s in (paper or specs) if "HalfCheetah" in s.env_id]
            result = simulator_part((cheetah or paper or specs)[0], quick)
            write_part(out, name, result, format_simulator(result))
        print(f"wrote {out / name}.{{json,md}} ({time.perf_counter() - start:.0f} s)",
              flush=True)
    index = write_index(out, prefix, command + (" --quick" if quick else ""))
    print(f"wrote {index}")
    return out
