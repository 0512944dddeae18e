"""loihi_deploy.sim_backend: execution of the IR (docs/architecture.md).

neurons (the one definition of every neuron's dynamics, float and fixed point), emulator
(batched CPU simulation), codec (encoder/decoder), lava_procs (Lava Processes and
ProcessModels), lava_graph (IR -> Lava processes), lava_support. May import compiler only.
"""
