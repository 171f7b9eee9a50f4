"""One process tree: every process ``serve`` starts ends when the one that started it ends.

uvicorn's worker processes, and the retraining process a worker starts, are children that
would otherwise outlive a parent killed with SIGKILL (a crash, the OOM killer, ``kill -9``),
and keep the port or the retraining lease. Each such child calls :func:`watch_parent` first:
a daemon thread that notices the parent's death within ``interval_s`` (on Linux the kernel also
signals it at once, ``PR_SET_PDEATHSIG``) and runs the child's way out: a worker stops
gracefully, which stops its retraining; a retraining process kills its process group, which
holds every helper process it started (:func:`stop_group`).

A process that holds a database lease names itself with :func:`new_holder`, so that another
process of the same machine can tell the lease's holder has died (:func:`holder_is_dead`)
and take the lease over at once instead of waiting for it to run out.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Environment variable naming the pid the workers of ``serve`` must outlive no longer than.
PARENT_ENV = "ADVISOR_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1


def watch_parent(on_death: Callable[[], None], *, parent: int | None = None,
                 interval_s: float = 0.5, pdeathsig: int | None = None) -> threading.Thread:
    """Call ``on_death`` (once, from a daemon thread) when the parent process is gone.

    ``parent`` is the pid to outlive no longer than (default: the parent now). ``pdeathsig``
    asks Linux to send that signal the moment the parent dies, before the thread's next look.
    """
    expected = os.getppid() if parent is None else parent
    if pdeathsig is not None and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(pdeathsig), 0, 0, 0)

    def watch() -> None:
        while os.getppid() == expected:
            time.sleep(interval_s)
        log.warning("the parent process %d has gone; stopping", expected)
        on_death()

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def is_running(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def stop_self(grace_s: float = 10.0) -> None:
    """Stop this process as a ``kill`` would (SIGTERM: a uvicorn worker shuts down cleanly),
    and for good after ``grace_s`` should the clean stop hang."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_s)
    log.error("still running %.0f s after SIGTERM; exiting", grace_s)
    os._exit(1)


def lead_group() -> None:
    """Make this process the leader of a new process group, which every helper it starts
    joins (so :func:`stop_group` and :func:`kill_own_group` reach them all)."""
    os.setpgid(0, 0)


def kill_own_group() -> None:
    """SIGKILL this process and every helper it started, if it leads its group
    (:func:`lead_group`); otherwise only itself."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def stop_group(pid: int) -> None:
    """SIGKILL the process group that ``pid`` leads (:func:`lead_group`): a retraining process
    and its helpers, or the helpers it left behind. Nothing when there is no such group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


# -- who holds a lease: a process, and whether it still runs ---------------------------------

def new_holder(role: str = "") -> str:
    """A lease holder id naming this process: ``host:pid:pid-namespace:role-random`` (at most
    64 characters)."""
    return f"{_HOST}:{os.getpid()}:{_PID_NAMESPACE}:{role[:8]}-{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str | None) -> bool:
    """True when ``holder`` (from :func:`new_holder`) names a process of this machine and pid
    namespace (a container has its own) that no longer runs. A holder elsewhere, or one this
    cannot tell, is not known dead."""
    host, pid_text, namespace = ((holder or "").split(":") + ["", "", ""])[:3]
    if (host, namespace) != (_HOST, _PID_NAMESPACE) or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):  # someone else's process, or no pid at all
        return False
    return False


def _pid_namespace() -> str:
    try:  # Linux: 'pid:[4026531836]'
        return format(os.stat("/proc/self/ns/pid").st_ino, "x")[-8:]
    except OSError:
        return "-"


_HOST = socket.gethostname()[:24].replace(":", "_")
_PID_NAMESPACE = _pid_namespace()
