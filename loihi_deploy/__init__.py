"""loihi_deploy."""
