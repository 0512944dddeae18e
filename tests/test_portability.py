"""Guard against machine-dependent tests (docs/reproducibility.md).

Numbers recorded on one machine (a policy's evaluation, a training run's metrics) are compared
with a replay only through loihi_deploy.stats.replay_agrees: closed-loop float results depend
on the CPU's BLAS and torch kernels. This test reads every test module and fails on an exact or
tolerance comparison whose operands mention recorded data.
"""
import ast
import pathlib

import numpy as np

from loihi_deploy.stats import replay_agrees

TESTS = pathlib.Path(__file__).parent
EXACT_COMPARISONS = {"assert_allclose", "assert_array_equal", "assert_equal", "isclose",
                     "allclose", "array_equal", "approx", "assert_almost_equal"}
RECORDED_MARKERS = ("recorded", "\"evaluation\"", "'evaluation'", "\"final\"", "'final'",
                    "metrics.json")


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def comparisons_of_recorded_data(source: str) -> list[tuple[int, str]]:
    """(line, text) of every exact comparison (call or ==) that mentions recorded data."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _call_name(node) in EXACT_COMPARISONS:
            operands = node.args + [k.value for k in node.keywords]
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq))
                                                    for op in node.ops):
            if all(isinstance(c, ast.Constant) and type(c.value) is int
                   for c in node.comparators):
                continue    # a count (episodes, lengths), not a measured number
            operands = [node.left, *node.comparators]
        else:
            continue
        text = " ".join(ast.get_source_segment(source, o) or "" for o in operands)
        if any(marker in text for marker in RECORDED_MARKERS):
            found.append((node.lineno, text))
    return found


def test_no_test_compares_recorded_numbers_exactly():
    offenders = [f"{path.relative_to(TESTS)}:{line}: {text}"
                 for path in sorted(TESTS.rglob("*.py")) if path.name != pathlib.Path(__file__).name
                 for line, text in comparisons_of_recorded_data(path.read_text())]
    assert not offenders, ("recorded results compared exactly (use "
                           "loihi_deploy.stats.replay_agrees):\n" + "\n".join(offenders))


def test_the_guard_catches_the_old_zoo_replay():
    old = ("np.testing.assert_allclose(returns, recorded, atol=0.01)\n"
           "assert report['success_rate'] == recorded['success_rate']\n"
           "assert x == pytest.approx(meta['evaluation']['mean'])\n")
    assert sorted({line for line, _ in comparisons_of_recorded_data(old)}) == [1, 2, 3]


def test_replay_agrees_accepts_a_chaotic_replay_and_rejects_a_real_change():
    rng = np.random.default_rng(0)
    recorded = rng.normal(7400, 40, 20)
    replay = recorded.copy()
    replay[[3, 11]] = rng.normal(7400, 40, 2)          # two episodes diverged elsewhere
    assert replay_agrees(replay, recorded).agrees
    assert replay_agrees(recorded, recorded).agrees     # same machine: identical
    assert not replay_agrees(recorded * 0.9, recorded).agrees   # a real regression
    assert replay_agrees(replay, recorded.mean()).agrees        # recorded mean only
    flat = np.full(10, 9359.7)                          # zero variance: last-bit tolerance
    assert replay_agrees(flat + 1e-9, flat).agrees and not replay_agrees(flat + 1, flat).agrees

