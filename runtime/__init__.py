"""loihi_deploy.runtime: the closed loop (docs/architecture.md).

envs and pixels (gymnasium environments and wrappers), closed_loop (the episode runner and
state recording), lava_bridge and netx_runner (Lava controllers), pacing (real-time control).
May import sim_backend and compiler, nothing above.
"""
