"""The public API (loihi_deploy.*): its docstring examples run as doctests, and it accepts what
the CLI accepts."""
import doctest

import pytest

import loihi_deploy


def test_docstring_examples_run():
    result = doctest.testmod(loihi_deploy, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 6 and result.failed == 0


def test_strings_and_bundles_like_the_cli(tmp_path):
    bundle = tmp_path / "idp.h5"
    graph = loihi_deploy.compile("inverted_double_pendulum_v5_td3", timesteps=2,
                                 membrane="crpi:0.6", neuron="mt", levels=3,
                                 calib_episodes=1, output=bundle)
    assert str(graph.neuron) == "mt:3" and bundle.exists()
    run = loihi_deploy.run(bundle, episodes=2, membrane="vanilla")   # env read from the bundle
    assert len(run.returns) == 2
    with pytest.raises(ValueError, match="NIR export supports IF and cuba neurons only"):
        loihi_deploy.export(bundle, tmp_path / "idp.nir")
    if_graph = loihi_deploy.compile("inverted_double_pendulum_v5_td3", timesteps=2,
                                    calib_episodes=1)
    assert loihi_deploy.export(if_graph, tmp_path / "idp.nir").exists()
    check = loihi_deploy.check(bundle, min_ratio=0.0, episodes=2)
    assert check.passed and "95% CI" in check.summary()
    with pytest.raises(ValueError, match="STEP must be > 0"):
        loihi_deploy.sweep("inverted_double_pendulum_v5_td3", alphas="0:1:0")


def test_import_stays_light():
    import subprocess
    import sys
    code = ("import sys, loihi_deploy; heavy = [m for m in ('torch', 'gymnasium', 'lava', "
            "'mujoco') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
