"""Make a multiprocessing forkserver, and every worker it forks, end with the pool's owner.

Imported through the forkserver's preload list (``extractors.pool.PRELOAD``), first. Without
it a run killed with SIGKILL leaves its forkserver, its resource tracker and its workers
behind for as long as the workers take to notice: each forkserver worker holds the write end
of the forkserver's "owner alive" pipe (Python passes it to every child), so the forkserver
outlives the owner until the last worker is gone, and a worker only notices from a thread
that needs the GIL, after it has re-imported the owner's ``__main__`` (1-2 s idle, several
seconds on a loaded machine; the kill -9 campaign found four such processes 5 s after a kill
during extraction).

With it, on Linux:
- the forkserver polls its parent pid (the owner: the forkserver is its direct child) from a
  thread; the forkserver's main thread sits in ``select``, so the poll runs within 0.2 s of
  the owner's death, and the forkserver exits;
- every child it forks asks the kernel, before running anything else, for SIGKILL when the
  forkserver ends (``prctl(PR_SET_PDEATHSIG)``; the forking thread is the forkserver's main
  thread, which lives as long as it does), so workers die with it even in a long C call.

Imported anywhere else (not from ``multiprocessing.forkserver.main``), it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
import warnings
from multiprocessing import forkserver
from types import FrameType

PR_SET_PDEATHSIG = 1  # prctl(2)
POLL_SECONDS = 0.2


def imported_by_forkserver(frame: FrameType | None) -> bool:
    """Whether ``multiprocessing.forkserver.main`` is on the stack from ``frame`` up."""
    while frame is not None:
        if frame.f_code is forkserver.main.__code__:
            return True
        frame = frame.f_back
    return False


def exit_when_parent_changes(parent: int, poll: float = POLL_SECONDS) -> None:
    """Leave (``os._exit``) once this process's parent is no longer ``parent``."""
    while os.getppid() == parent:
        time.sleep(poll)
    os._exit(0)


def request_kill_with_parent() -> None:
    """Ask the kernel for SIGKILL when this process's parent ends (Linux; else nothing)."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent ended before the request: too late to be told
        os._exit(1)


def install() -> None:
    """In a forkserver: watch the owner, and make every forked child die with the server."""
    if not sys.platform.startswith("linux"):
        return
    # the forkserver's own thread: fork() from it is safe (the child runs no thread)
    warnings.filterwarnings(
        "ignore", message=r".*multi-threaded, use of fork\(\)", category=DeprecationWarning
    )
    os.register_at_fork(after_in_child=request_kill_with_parent)
    owner = os.getppid()
    threading.Thread(
        target=exit_when_parent_changes, args=(owner,), name="forkserver-owner-watch", daemon=True
    ).start()


if imported_by_forkserver(sys._getframe(0)):
    install()
