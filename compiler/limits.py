"""Limits on every size a user or a file controls, checked before memory is allocated
(docs/reliability.md lists them). Generous for real use, far below what exhausts a machine.
"""
MAX_TIMESTEPS = 4096          # internal SNN steps per decision (the paper uses <= 64)
MAX_ALPHAS = 101              # CRPI alpha grid points per sweep (0:1:0.01)
MAX_EPISODES = 1000           # episodes in one run, check or evaluation (each holds an env)
MAX_SWEEP_ROWS = 5000         # alphas x episodes in one sweep
MAX_CALIB_EPISODES = 1000     # calibration episodes
MAX_DECISIONS = 1_000_000     # decisions of one verify run
MAX_ITERATIONS = 100_000      # training iterations (train-snn, distill)
MAX_HIDDEN_UNITS = 4096       # hidden units per layer of a train-snn network read from a run
MAX_SUBSTEPS = 64             # 2 ms substeps per env step of such a network
