"""A sandboxed-enough Jupyter kernel for grading: time limits per execution, a memory limit, restarts.

Each submission gets a fresh ``python3`` kernel whose working directory is a temporary folder holding only
the submission. Every execution has a time limit: when it is exceeded the kernel is interrupted (SIGINT);
a kernel that ignores the interrupt, crashes or runs out of memory is replaced by a new one. The address
space of the kernel process is capped with ``RLIMIT_AS`` (importing torch needs well under 1 GiB), so a
memory hog gets a ``MemoryError`` instead of taking the machine down.
"""

from __future__ import annotations

import os
import queue
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Environment variables set in the grading kernel: one thread per library, no GUI backend.
KERNEL_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}
#: Seconds to wait for a kernel to answer an interrupt before it is replaced.
INTERRUPT_GRACE_S = 5.0
#: Largest amount of stdout/stderr kept per execution (characters).
MAX_STREAM_CHARS = 4000


@dataclass
class Execution:
    """The outcome of one execution request.

    ``status`` is ``"ok"``, ``"error"`` (an exception, see ``ename``/``evalue``), ``"timeout"`` (interrupted
    after the time limit; the kernel still works), ``"hung"`` (it ignored the interrupt and was replaced) or
    ``"dead"`` (the kernel process exited: crash, ``os._exit``, out of memory).
    """

    status: str
    ename: str = ""
    evalue: str = ""
    where: str = ""
    stdout: str = ""
    user_expressions: dict = field(default_factory=dict)
    seconds: float = 0.0


class GradingKernel:
    """A ``python3`` kernel started in ``cwd`` with a memory limit; use as a context manager.

    Parameters
    ----------
    cwd : str
        Working directory of the kernel (a temporary folder that holds only the submission).
    memory_mb : int or None
        Cap on the kernel's address space in MiB (``RLIMIT_AS``); None for no cap.
    startup_timeout : float
        Seconds to wait for the kernel to become ready.
    """

    def __init__(self, cwd: str, memory_mb: int | None = 4096, startup_timeout: float = 120.0):
        self.cwd = cwd
        self.memory_mb = memory_mb
        self.startup_timeout = startup_timeout
        self.km = None
        self.kc = None
        self.restarts = 0
        self._ipc_dir = None

    def __enter__(self) -> GradingKernel:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()

    def start(self) -> None:
        """Start a fresh kernel process and wait until it answers."""
        from jupyter_client import KernelManager

        env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "JUPYTER_TOKEN"))}
        env.update(KERNEL_ENV, HOME=self.cwd)
        # IPC sockets in a folder of their own instead of TCP ports on localhost
        self._ipc_dir = tempfile.mkdtemp(prefix="rnncourse-ipc-")
        self.km = KernelManager(
            kernel_name="python3", transport="ipc", ip=os.path.join(self._ipc_dir, "kernel")
        )
        self.km.start_kernel(cwd=self.cwd, env=env)
        if self.memory_mb:
            limit = int(self.memory_mb) * 2**20
            pid = self.km.provisioner.process.pid
            resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=self.startup_timeout)

    def shutdown(self) -> None:
        """Stop the kernel process and close the channels (safe to call twice)."""
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        if self.km is not None:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=True)
            self.km = None
        if self._ipc_dir is not None:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)
            self._ipc_dir = None

    def restart(self) -> None:
        """Replace the kernel with a fresh one (all state is lost)."""
        self.shutdown()
        self.start()
        self.restarts += 1

    def memory_fraction(self) -> float:
        """The kernel's address space as a fraction of its cap (0 without a cap or when it cannot be read)."""
        if not self.memory_mb or not self.alive():
            return 0.0
        try:
            status = Path(f"/proc/{self.km.provisioner.process.pid}/status").read_text()
        except OSError:
            return 0.0
        for line in status.splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) / 1024 / self.memory_mb
        return 0.0

    def alive(self) -> bool:
        return self.km is not None and self.km.is_alive()

    def execute(self, code: str, timeout: float, user_expressions: dict | None = None) -> Execution:
        """Run ``code`` with a time limit of ``timeout`` seconds and report what happened."""
        start = time.monotonic()
        msg_id = self.kc.execute(
            code,
            store_history=True,
            user_expressions=user_expressions or {},
            allow_stdin=False,
            stop_on_error=False,
        )
        result = self._collect(msg_id, start + timeout)
        if result is None:  # time limit: interrupt and wait for the kernel to come back
            if self.alive():
                self.km.interrupt_kernel()
                result = self._collect(msg_id, time.monotonic() + INTERRUPT_GRACE_S)
            if result is None:
                result = Execution("dead" if not self.alive() else "hung")
            elif result.status != "dead":
                result = Execution("timeout", stdout=result.stdout)
        result.seconds = time.monotonic() - start
        return result

    def _collect(self, msg_id: str, deadline: float) -> Execution | None:
        """Read iopub and shell messages of ``msg_id`` until the reply arrives; None at the deadline."""
        out, err, idle = [], None, False
        while not idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                msg = self.kc.get_iopub_msg(timeout=min(0.25, remaining))
            except queue.Empty:
                if not self.alive():
                    return Execution("dead", stdout="".join(out)[:MAX_STREAM_CHARS])
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and sum(map(len, out)) < MAX_STREAM_CHARS:
                out.append(content.get("text", ""))
            elif kind == "error":
                err = content
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
        reply = self._shell_reply(msg_id, deadline)
        stdout = "".join(out)[:MAX_STREAM_CHARS]
        if reply is None:
            return Execution("dead" if not self.alive() else "hung", stdout=stdout)
        content = reply["content"]
        if content.get("status") == "error" or err is not None:
            source = err or content
            return Execution(
                "error",
                ename=str(source.get("ename", "")),
                evalue=str(source.get("evalue", "")),
                where=_where(source.get("traceback", [])),
                stdout=stdout,
                user_expressions=content.get("user_expressions", {}),
            )
        return Execution("ok", stdout=stdout, user_expressions=content.get("user_expressions", {}))

    def _shell_reply(self, msg_id: str, deadline: float):
        while True:
            remaining = max(deadline - time.monotonic(), 2.0)
            try:
                msg = self.kc.get_shell_msg(timeout=remaining)
            except queue.Empty:
                return None
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return msg


def _where(traceback_lines: list) -> str:
    """The line number of a cell's exception, from an IPython traceback (ANSI colours removed)."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(traceback_lines))
    hits = re.findall(r"^(?:Cell In\[\d*\], )?line (\d+)", text, flags=re.MULTILINE)
    return f"line {hits[0]}" if hits else ""
