"""`loihi-deploy bench`: the benchmark and analysis suite, written to docs/results/. One module
per part (conversion.py also holds crpi_clip), shared machinery in common.py, the driver in
suite.py.

Parts (each writes <part>.json, <part>.md and PNG figures into OUT; README.md indexes them):
  conversion     policy x neuron model x T x {vanilla, CRPI}: alpha selected on a grid on
                 the selection episodes, then the ANN, vanilla and the selected alpha on fresh
                 test episodes (95% CIs, paired difference to vanilla); the ratio to the ANN
                 over envs (mean and IQM, bootstrap CIs); return-vs-alpha figures.
  crpi_clip      CRPI's clip radius per neuron model: the default against a wider alternative.
  amplification  error amplification (loihi_deploy.studies.analysis): swap experiment, action-error
                 cosines, residual cosines, state / return divergence figures.
  cost           events and synaptic operations per decision from rollouts, energy estimates
                 (Loihi 1 Table 2 figures), the ANN's FLOPs, Lava latency per decision.
  fidelity       float vs Loihi fixed-point returns per neuron model.
  simulator      emulator vs Lava vs a per-sample torch loop (loihi_deploy.studies.perf), and scaling.
  pixels         the bundled pixel policies (distilled convolutional actors, 84x84 frames):
                 IF T=32/64, SNM T=8/16, MT and DC T=2, vanilla and CRPI (alphas 0.5, 1),
                 against the ANN and the state-based expert, with the energy estimate per
                 decision (events and synaptic ops counted over 2 closed-loop episodes).
  nir            the deployed bundle vs its NIR export's semantics (reset to 0, start at 0, no
                 CRPI) in closed loop, and snnTorch running the exported file (docs/nir.md).
  calibration    the deployed return over 5 calibration seeds per policy, method (max,
                 emax90@50 = the default, p99.9@50) and neuron config, float and fixed: the
                 seed-to-seed spread against the episode CI (docs/calibration.md).
  pacing         paced control on Lava's CPU simulation: per locomotion task and deployment
                 configuration (DC / MT, T = 2 and 4), the latency per decision and the
                 deadline misses of one 1000-decision episode at the env's control period.
Every row of a part runs all its alphas x episodes as one emulator batch on the same reset
seeds (paired comparisons); calibration is shared by all rows of a policy. The JSON is
rewritten after every row and `--resume` skips rows already in it, so a long run can be
interrupted. Policies: the paper's TD3 actors when ../shared/reference_actors is present (all
parts, every config) and the bundled policies (conversion study, IF T=16 and MT T=2); --quick
runs the bundled InvertedDoublePendulum policy only.
"""
from loihi_deploy.studies.bench.suite import PARTS, run_bench  # noqa: F401
