"""loihi-deploy: compile continuous-control policies into spiking networks for Loihi.

The top layer (docs/architecture.md): cli, api, testing, zoo, demo, deploy_snn, stats;
training/ and studies/ beside them; compiler, sim_backend and runtime below.
"""
