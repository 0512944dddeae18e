"""Lava Processes and ProcessModels of loihi-deploy (library code only: Lava's model discovery
imports every module of this folder). Import through loihi_deploy.sim_backend.lava_support.require_lava()."""
