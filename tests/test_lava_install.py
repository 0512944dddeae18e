"""Lava (lava-nc 0.10.0, patched for Python 3.11 by `loihi-deploy setup-lava`) runs a small network."""
import numpy as np
import pytest

pytestmark = pytest.mark.lava


def test_lava_runs_lif_dense_lif_under_loihi2simcfg():
    from loihi_deploy.sim_backend.lava_support import require_lava
    require_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    steps = 12
    src = LIF(shape=(2,), du=1, dv=0, bias_mant=np.array([0.3, 0.45]), vth=1.0)
    dense = Dense(weights=np.array([[0.6, 0.0], [0.0, 0.6]]))
    dst = LIF(shape=(2,), du=1, dv=0, bias_mant=0.0, vth=1.0)
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(dst.a_in)
    mon = Monitor()
    mon.probe(src.s_out, steps)
    try:
        src.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="floating_pt"))
        spikes = mon.get_data()[src.name]["s_out"]
        v_dst = dst.v.get()
    finally:
        src.stop()
    # hand computation of the float LIF: v += bias; spike if v > 1; v = 0 on spike
    v, want = np.zeros(2), []
    for _ in range(steps):
        v = v + np.array([0.3, 0.45])
        s = v > 1.0
        v[s] = 0.0
        want.append(s.astype(float))
    want = np.array(want)
    np.testing.assert_array_equal(spikes, want)
    # dst integrates 0.6 per source spike, delayed one step by Dense, and fires above 1
    v, delayed = np.zeros(2), np.zeros(2)
    for t in range(steps):
        v = v + 0.6 * delayed
        v[v > 1.0] = 0.0
        delayed = want[t]
    np.testing.assert_allclose(v_dst, v)
