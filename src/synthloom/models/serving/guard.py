"""`python -m synthloom.models.serving.guard PARENT_PID -- COMMAND...`: runs a server that dies with
the process that started it.

A served replica runs under this guard, which leads a process group of its own: it starts the
server in that group and watches the pid it was given. When that process is gone (a driver killed
with SIGKILL gets no chance to stop anything), or when the guard is sent SIGTERM or SIGINT, it
stops the whole group: SIGTERM, then SIGKILL after a grace period. Polling the parent works for any
server command and does not depend on which thread of the parent started it (unlike
PR_SET_PDEATHSIG, which fires when that *thread* exits).

The guard itself may be killed outright: Ray kills the child processes of an actor it ends (a Ray
replica's guard is one). So the server is started with PR_SET_PDEATHSIG set to SIGTERM (the guard is
single-threaded, so the thread that started it is the guard's life): the kernel then tells the
server to stop when the guard dies, however it dies.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

#: Seconds between looks at the parent, and the grace a stopped server gets before SIGKILL.
_POLL = 0.2
_GRACE = 10.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_PR_SET_PDEATHSIG = 1


def _dies_with(guard: int) -> Callable[[], None] | None:
    """A pre-exec hook asking the kernel for SIGTERM when the guard dies (Linux; None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != guard:  # the guard died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def _stop_group(child: subprocess.Popen[bytes]) -> int:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group signal reaches this process too
    group = os.getpgrp()
    try:
        os.killpg(group, signal.SIGTERM)
        child.wait(_GRACE)
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return child.wait()


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: guard PARENT_PID -- COMMAND...", file=sys.stderr)
        return 2
    parent = int(argv[0])
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.append(signum))
    child = subprocess.Popen(argv[2:], preexec_fn=_dies_with(os.getpid()))
    while True:
        code = child.poll()
        if code is not None:
            return code if code >= 0 else 128 - code
        if stopping or not _alive(parent) or os.getppid() != parent:
            _stop_group(child)
            return 0
        time.sleep(_POLL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
