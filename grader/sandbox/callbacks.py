"""Serving a child's callback: the grader's function, run on arguments the student's code chose.

A test may offer the student's code functions of the grader (a reference implementation,
``wire.Callback``); the child calls one through the channel and the grader runs it here,
within the call's deadline and the callback memory budget (:mod:`grader.sandbox.budget`), and
sends back its value as plain data (at most ``Limits.message_mb``), or the error that the
student's code then sees as a ``CallbackError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from grader.sandbox import wire
from grader.sandbox.budget import Budget, OutOfTime
from grader.sandbox.limits import Limits


def serve(request: dict[str, Any], callbacks: Mapping[str, Callable[..., Any]],
          deadline: float, limits: Limits, budget: Budget) -> bytes:
    """Run the grader's function the child asked for; the framed reply to send it.

    Parameters
    ----------
    request : dict
        The child's ``callback`` message (the function's name, its encoded arguments).
    callbacks : mapping of str to callable
        The functions offered to this call, by name.
    deadline : float
        The call's deadline, a ``time.monotonic()`` instant.
    limits : Limits
        ``callback_mb`` (memory the function may take) and ``message_mb`` (its reply).
    budget : Budget
        This process's callback budget.

    Returns
    -------
    bytes
        A framed ``callback_result`` message: the value, or why there is none.

    Raises
    ------
    grader.sandbox.wire.ChannelTimeout
        The function ran into or past the call's deadline.
    """
    name = str(request.get("name"))[:200]
    function = callbacks.get(name)
    try:
        if function is None:
            raise LookupError(f"no function {name!r} was offered to the submission")
        args = wire.decode(request.get("args", []))
        kwargs = wire.decode(request.get("kwargs", {}))
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise TypeError("malformed arguments")
        # the reply is encoded within the budget too: its size is the request's doing
        with budget.serving(deadline, limits.callback_mb << 20):
            value = function(*args, **kwargs)
            data = wire.dumps({"op": "callback_result", "ok": True,
                               "value": wire.encode(value),
                               "rng_states": wire.rng_states(args, kwargs)})
            del value
        if len(data) - 4 > limits.message_mb << 20:
            data = _error(f"the reply of {name} would be {len(data) / 2**20:.3g} "
                          f"MB, over the limit of {limits.message_mb} MB")
    except OutOfTime:
        raise wire.ChannelTimeout("a callback ran into the call's deadline") from None
    except MemoryError:
        data = _error(f"{name} needed more memory than the callback budget of "
                      f"{limits.callback_mb} MB allows")
    except Exception as exc:  # the submission passed something the function rejects
        data = _error(f"{name} raised {type(exc).__name__}: {str(exc)[:1000]}")
    if time.monotonic() > deadline:  # where the callback could not be interrupted
        raise wire.ChannelTimeout("a callback ran past the call's deadline")
    return data


def _error(message: str) -> bytes:
    return wire.dumps({"op": "callback_result", "ok": False, "error": message})
