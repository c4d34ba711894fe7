"""Calls that may take as long as they like (an image pull, a resource download, filling a
volume) run in a thread of their own, never in the loop's default pool: the agent's short
engine calls (create a network, inspect a container) wait for a thread of that pool, and a
pull from a registry that stops answering held one for ever (issue 13, finding 7: once all 32
were held, a new job never passed "submitted")."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

from nosana_tui.engine.backend import BackendError

_T = TypeVar("_T")


async def in_own_thread(fn: Callable[[], _T], name: str) -> _T:
    """``fn()`` in a daemon thread of its own, for a call that may take as long as it likes: it
    holds none of the pool's threads, which the short calls of every job wait for. Cancelled,
    the caller stops waiting; the thread runs on until ``fn`` returns (and is then forgotten)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[_T] = loop.create_future()

    def settle(result: _T | None, error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        result: _T | None = None
        error: BaseException | None = None
        try:
            result = fn()
        except StopIteration as err:  # (a future cannot hold one: it would never settle)
            error = RuntimeError(f"{name}: StopIteration: {err}")
        except BaseException as err:  # handed to the caller, whatever it is
            error = err
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    try:
        threading.Thread(target=run, daemon=True, name=name).start()
    except RuntimeError as err:  # "can't start new thread": a pids limit reached
        raise BackendError(f"{name}: the agent cannot start a thread ({err})") from None
    return await done
