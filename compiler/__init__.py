"""loihi_deploy.compiler: the bottom layer, pure passes over one IR (docs/architecture.md).

ir (AnnGraph, SpikingGraph, TrainedSpikingGraph, EnvSpaces), frontend (policy files ->
AnnGraph), calibrate (thresholds from given states), convert, quantize (Loihi fixed point),
bundle (HDF5), export_nir, export_netx, hardware. Imports numpy, h5py, torch (for reading
weights) and nir; never an environment, Lava, or anything above it.
"""
