"""The one place that imports Lava: clear errors when it is missing, unpatched or unusable.

Lava (lava-nc 0.10.0) calls multiprocessing.set_start_method('fork') when it is imported,
which raises RuntimeError if anything in the process already fixed the start method (SB3,
torch, pytest plugins...). Lava's runtime needs 'fork'; when the method already in force is
'fork' the call is let through, otherwise the user gets a clear message.
"""
from __future__ import annotations

import multiprocessing


class LavaUnavailable(RuntimeError):
    """Lava cannot run in this environment (the message says why and what to do)."""


def require_lava() -> None:
    """Import Lava's core once; raise LavaUnavailable with a remedy if that fails."""
    import numpy
    if int(numpy.__version__.split(".")[0]) >= 2:
        raise LavaUnavailable(f"numpy {numpy.__version__} is installed; Lava 0.10 hangs with "
                              f"numpy 2 in several places (docs/lava.md section 1). Install "
                              f"numpy<2 (`loihi-deploy setup-lava` does)")
    method = multiprocessing.get_start_method(allow_none=True)
    if method not in (None, "fork"):
        raise LavaUnavailable(f"Lava needs the 'fork' multiprocessing start method, but this "
                              f"process already uses {method!r}")
    if method == "fork":
        # let Lava's own set_start_method('fork') (no force=) through: same method, no change
        multiprocessing.context._default_context._actual_context = None
    try:
        import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401
        import lava.magma.core.run_configs  # noqa: F401
    except ModuleNotFoundError as exc:
        raise LavaUnavailable(f"lava-nc is not installed ({exc}); run `loihi-deploy "
                              f"setup-lava` (or `make install`)") from None
    except (TypeError, ValueError) as exc:
        if "mutable default" in str(exc):
            raise LavaUnavailable("lava-nc is installed but not patched for Python 3.11; run "
                                  "`loihi-deploy setup-lava`") from None
        raise
    finally:
        if multiprocessing.get_start_method(allow_none=True) is None and method == "fork":
            multiprocessing.set_start_method("fork")
