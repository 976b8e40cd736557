"""A Jupyter kernel for grading, in a bubblewrap sandbox: time, memory, process, CPU and disk limits.

Each submission gets a fresh ``python3`` kernel (``ipykernel``) started inside ``bwrap`` (bubblewrap) with

- a read-only view of the system (``/usr``, ``/etc``), the Python installation, the course environment and
  the library's source, and nothing else: not the build folder with the hidden tests, not the other
  submissions, not the instructor's home;
- its own writable scratch directory ``/tmp`` (a size-capped tmpfs, also the kernel's home and working
  directory, holding a read-only copy of the submission), a read-only root everywhere else;
- no network at all (its own network namespace with the loopback interface down), its own PID namespace
  (every process it starts dies with it), ``--die-with-parent``, no capabilities and, when the grader runs
  as root, a fresh unused user id (root is exempt from ``RLIMIT_NPROC``), so that the limits on processes
  (``RLIMIT_NPROC``), CPU time (``RLIMIT_CPU``) and address space (``RLIMIT_AS``) hold; as another user
  the kernel runs in a user namespace of its own (the loopback interface then stays up, private to it).

The grader drives the kernel over IPC sockets that the kernel creates in its own ``/tmp``; the grader
reaches them through ``/proc/PID/root``, so no writable folder of the grader's machine is shared. Every
execution has a time limit: when it is exceeded the kernel is interrupted (SIGINT); a kernel that ignores
the interrupt, crashes or runs out of memory is replaced by a new one. Processes that a cell leaves running
are stopped after the cell, and a fork bomb (more than ``FORK_BOMB_PROCESSES`` children) as soon as it is
seen, so that it does not starve the kernels of other submissions graded at the same time.

Without ``bwrap`` (or as a non-root user without user namespaces) :func:`check_sandbox` says how to fix it;
``sandbox=False`` runs the kernel as a plain process with the memory cap only (``--no-sandbox``).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Environment of the grading kernel (nothing else is inherited): one thread per library, no GUI backend.
KERNEL_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",
}
#: Seconds to wait for a kernel to answer an interrupt before it is replaced.
INTERRUPT_GRACE_S = 5.0
#: A cell with more child processes than this at once is a fork bomb: they are stopped at once.
FORK_BOMB_PROCESSES = 16
#: Largest amount of stdout/stderr kept per execution (characters).
MAX_STREAM_CHARS = 4000
#: Inside the sandbox: the scratch tmpfs, the connection file, the IPC socket prefix.
SCRATCH = "/tmp"
CONNECTION = "/run/rnncourse/kernel.json"
IPC_PREFIX = "/tmp/.kernel/ipc"
#: The message that names the fix when no sandbox can be made.
NO_SANDBOX_FIX = (
    "install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf install "
    "bubblewrap`) and grade as root or with unprivileged user namespaces enabled "
    "(`sysctl kernel.unprivileged_userns_clone=1`), or pass --no-sandbox to grade without isolation "
    "(only for submissions you trust; the report records it)"
)

#: Run by the sandbox's Python as root inside the namespaces, then replaced by the kernel: loopback down,
#: limits, an unused user id (drops every capability), exec. Without a sandbox it only sets the limits.
_LAUNCHER = r"""
import json, os, resource, sys
cfg = json.loads(sys.argv[1])
if cfg["loopback_down"]:
    import fcntl, socket, struct
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:  # SIOCSIFFLAGS: lo without IFF_UP (needs root; in a user namespace lo stays up but private)
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", 0))
    except OSError:
        pass
    s.close()
    os.makedirs(os.path.dirname(cfg["ipc_prefix"]), mode=0o700, exist_ok=True)
os.chdir(cfg["cwd"])
for name, value in cfg["limits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
if cfg["uid"] is not None:
    os.chown(os.path.dirname(cfg["ipc_prefix"]), cfg["uid"], cfg["uid"])
    os.setgroups([])
    os.setgid(cfg["uid"])
    os.setuid(cfg["uid"])
os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", cfg["connection"]])
"""
#: Namespaces of the sandbox (a user namespace only when not root: as root the kernel gets its own user id).
_UNSHARE = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]


def check_sandbox() -> str | None:
    """None when a bubblewrap sandbox can be created here, else what is wrong and how to fix it."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return f"bubblewrap (`bwrap`) is not installed: {NO_SANDBOX_FIX}"
    cmd = [bwrap, *_system_binds(), *_UNSHARE, "--die-with-parent", "--", "/bin/true"]
    if os.geteuid() != 0:
        cmd[1:1] = ["--unshare-user"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return f"bubblewrap cannot create a sandbox here ({proc.stderr.strip()[:200]}): {NO_SANDBOX_FIX}"
    return None


def sandbox_roots() -> list[str]:
    """The folders outside ``/usr`` that the sandbox sees (read-only): the Python installation, the course
    environment and the source folder of ``rnncourse`` and this package (never the current directory)."""
    import importlib.util

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots.add(str(Path(sys.executable).resolve().parents[1]))
    for name in ("rnncourse", "rnncourse_grading"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            roots.add(str(Path(spec.origin).resolve().parents[1]))
    roots = {str(Path(r).resolve()) for r in roots}
    kept = []
    for root in sorted(r for r in roots if r not in ("/", "/usr") and not r.startswith(("/usr/", "/etc/"))):
        if not any(root.startswith(k + "/") for k in kept):
            kept.append(root)
    return kept


def exposed(path) -> str | None:
    """The sandbox root that contains ``path`` (which a kernel could then read), or None."""
    path = str(Path(path).resolve())
    return next((r for r in sandbox_roots() if path == r or path.startswith(r + "/")), None)


def _system_binds() -> list[str]:
    """Read-only binds of the system, the Python installation, the environment and the library's source."""
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind-try", "/etc", "/etc"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    kept = sandbox_roots()
    parents = sorted({str(a) for root in kept for a in Path(root).parents if str(a) != "/"})
    for parent in parents:  # traversable by the sandbox's user even where the host's is not (/root)
        args += ["--perms", "0755", "--dir", parent]
    for root in kept:
        args += ["--ro-bind", root, root]
    return args


@dataclass
class Execution:
    """The outcome of one execution request.

    ``status`` is ``"ok"``, ``"error"`` (an exception, see ``ename``/``evalue``), ``"timeout"`` (interrupted
    after the time limit; the kernel still works), ``"hung"`` (it ignored the interrupt and was replaced) or
    ``"dead"`` (the kernel process exited: crash, ``os._exit``, out of memory or CPU time).
    """

    status: str
    ename: str = ""
    evalue: str = ""
    where: str = ""
    stdout: str = ""
    user_expressions: dict = field(default_factory=dict)
    seconds: float = 0.0
    strays: int = 0


class GradingKernel:
    """A ``python3`` kernel in a sandbox that holds ``submission`` (read-only); use as a context manager.

    Parameters
    ----------
    submission : str or Path or None
        The notebook to place (read-only) in the kernel's working directory.
    memory_mb : int or None
        Cap on the kernel's address space in MiB (``RLIMIT_AS``); None for no cap.
    sandbox : bool
        Run inside bubblewrap (see the module); False runs a plain process (memory cap only).
    scratch_mb, max_processes, cpu_seconds : int
        Size of the writable tmpfs, ``RLIMIT_NPROC`` and ``RLIMIT_CPU`` of the sandbox.
    startup_timeout : float
        Seconds to wait for the kernel to become ready.
    """

    def __init__(
        self,
        submission=None,
        memory_mb: int | None = 4096,
        *,
        sandbox: bool = True,
        scratch_mb: int = 256,
        max_processes: int = 64,
        cpu_seconds: int = 900,
        startup_timeout: float = 120.0,
    ):
        self.submission = Path(submission) if submission is not None else None
        self.memory_mb = memory_mb
        self.sandbox = sandbox
        self.scratch_mb = scratch_mb
        self.max_processes = max_processes
        self.cpu_seconds = cpu_seconds
        self.startup_timeout = startup_timeout
        self.proc = None
        self.kc = None
        self.restarts = 0
        self.fork_bombs = 0
        self._dir = None
        self._init_pid = None

    def __enter__(self) -> GradingKernel:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()

    # ------------------------------------------------------------------------------------------ process
    def start(self) -> None:
        """Start a fresh kernel process (in a fresh sandbox) and wait until it answers."""
        from jupyter_client import BlockingKernelClient
        from jupyter_client.session import new_id_bytes

        self._dir = Path(tempfile.mkdtemp(prefix="rnncourse-kernel-"))
        ipc = IPC_PREFIX if self.sandbox else str(self._dir / "ipc" / "k")
        info = {
            "transport": "ipc",
            "ip": ipc,
            "key": new_id_bytes().decode(),
            "signature_scheme": "hmac-sha256",
        }
        info.update({f"{c}_port": i + 1 for i, c in enumerate(("shell", "iopub", "stdin", "control", "hb"))})
        conn = self._dir / "kernel.json"
        conn.write_text(json.dumps(info))
        os.chmod(self._dir, 0o755)
        os.chmod(conn, 0o644)
        limits = {"RLIMIT_CORE": 0}
        if self.memory_mb:
            limits["RLIMIT_AS"] = int(self.memory_mb) * 2**20
        env = dict(KERNEL_ENV, PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin")
        if self.sandbox:
            limits.update(RLIMIT_NPROC=int(self.max_processes), RLIMIT_CPU=int(self.cpu_seconds))
            uid = 2_000_000 + secrets.randbelow(1_000_000) if os.geteuid() == 0 else None
            cfg = {
                "loopback_down": True,
                "ipc_prefix": ipc,
                "cwd": SCRATCH,
                "limits": limits,
                "uid": uid,
                "connection": CONNECTION,
            }
            env.update(HOME=SCRATCH, TMPDIR=SCRATCH, MPLCONFIGDIR=f"{SCRATCH}/.matplotlib")
            read_fd, write_fd = os.pipe()
            # The scratch tmpfs first: the read-only binds of the environment come after it, so that a course
            # checked out under /tmp (a CI clone) stays visible inside the sandbox.
            cmd = [
                "bwrap",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "--perms",
                "1777",
                "--size",
                str(int(self.scratch_mb) * 2**20),
                "--tmpfs",
                SCRATCH,
                *_system_binds(),
                "--perms",
                "0755",
                "--dir",
                os.path.dirname(CONNECTION),
                "--ro-bind",
                str(conn),
                CONNECTION,
            ]
            if self.submission is not None:
                cmd += ["--ro-bind", str(self.submission), f"{SCRATCH}/{self.submission.name}"]
            cmd += [
                "--remount-ro",
                "/",
                *_UNSHARE,
                "--die-with-parent",
                "--new-session",
                "--clearenv",
                "--info-fd",
                str(write_fd),
            ]
            if os.geteuid() != 0:
                cmd += ["--unshare-user"]
            for key, value in env.items():
                cmd += ["--setenv", key, value]
            cmd += ["--", sys.executable, "-I", "-c", _LAUNCHER, json.dumps(cfg)]
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(write_fd,),
                env={},
                start_new_session=True,
            )
            os.close(write_fd)
            with os.fdopen(read_fd) as f:
                text = f.read()
            try:
                self._init_pid = int(json.loads(text)["child-pid"])
            except (ValueError, KeyError) as exc:
                self.shutdown()
                raise RuntimeError(f"the sandbox did not start: {NO_SANDBOX_FIX}") from exc
            client_ip = f"/proc/{self._init_pid}/root{ipc}"
        else:
            (self._dir / "ipc").mkdir()
            work = self._dir / "work"
            work.mkdir()
            if self.submission is not None:
                shutil.copyfile(self.submission, work / self.submission.name)
            cfg = {
                "loopback_down": False,
                "ipc_prefix": ipc,
                "cwd": str(work),
                "limits": limits,
                "uid": None,
                "connection": str(conn),
            }
            env.update(HOME=str(work))
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _LAUNCHER, json.dumps(cfg)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
            client_ip = ipc
        self.kc = BlockingKernelClient()
        self.kc.load_connection_info(dict(info, ip=client_ip))
        self.kc.start_channels(hb=False)
        deadline = time.monotonic() + self.startup_timeout
        sent = set()
        while True:  # the sockets appear once the kernel has imported ipykernel: ask until it answers
            sent.add(self.kc.kernel_info())
            try:
                reply = self.kc.get_shell_msg(timeout=1.0)
                if reply.get("parent_header", {}).get("msg_id") in sent:
                    break
            except queue.Empty:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                code = self.proc.poll()
                self.shutdown()
                raise RuntimeError(f"the grading kernel did not start (exit code {code})")
        while True:  # drop the start-up messages
            try:
                self.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                break

    def kernel_pid(self) -> int | None:
        """Host PID of the kernel process (the sandbox's init starts it), or None."""
        if not self.sandbox:
            return self.proc.pid if self.proc is not None else None
        if self._init_pid is None:
            return None
        children = _children(self._init_pid)
        return children[0] if children else None

    def shutdown(self) -> None:
        """Stop the kernel and everything in its sandbox, close the channels (safe to call twice)."""
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        if self.proc is not None:
            if not self.sandbox:
                self.kill_strays()
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None
        self._init_pid = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def restart(self) -> None:
        """Replace the kernel (and its sandbox) with a fresh one (all state is lost)."""
        self.shutdown()
        self.start()
        self.restarts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.kernel_pid() is not None

    def interrupt(self) -> None:
        pid = self.kernel_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def kill_strays(self) -> int:
        """Kill every process the kernel started (still running after a cell); return how many."""
        pid = self.kernel_pid()
        if pid is None:
            return 0
        stopped = set()
        for _ in range(1000):  # freeze them first (a stopped process cannot fork), then kill them all
            found = set(_descendants(pid)) - stopped
            if not found:
                break
            for child in found:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGSTOP)
            stopped |= found
        for child in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        return len(stopped)

    def memory_fraction(self) -> float:
        """The kernel's address space as a fraction of its cap (0 without a cap or when it cannot be read)."""
        pid = self.kernel_pid()
        if not self.memory_mb or pid is None:
            return 0.0
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return 0.0
        for line in status.splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) / 1024 / self.memory_mb
        return 0.0

    # ---------------------------------------------------------------------------------------- execution
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
                self.interrupt()
                result = self._collect(msg_id, time.monotonic() + INTERRUPT_GRACE_S)
            if result is None:
                result = Execution("dead" if not self.alive() else "hung")
            elif result.status != "dead":
                result = Execution("timeout", stdout=result.stdout)
        if result.status not in ("dead", "hung"):
            result.strays = self.kill_strays()
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
                msg = self.kc.get_iopub_msg(timeout=min(0.1, remaining))
            except queue.Empty:
                if not self.alive():
                    return Execution("dead", stdout="".join(out)[:MAX_STREAM_CHARS])
                pid = self.kernel_pid()
                if pid is not None and len(_descendants(pid)) > FORK_BOMB_PROCESSES:
                    self.fork_bombs += 1  # stop it now: it would starve the other kernels of CPU
                    started = time.monotonic()
                    self.kill_strays()
                    deadline += time.monotonic() - started
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


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (all its threads), from ``/proc``."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return found


def _descendants(pid: int) -> list[int]:
    """Every living (not zombie) descendant of ``pid``."""
    todo, found = _children(pid), []
    while todo:
        child = todo.pop()
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            found.append(child)
        todo.extend(_children(child))
    return found


def _where(traceback_lines: list) -> str:
    """The line number of a cell's exception, from an IPython traceback (ANSI colours removed)."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(traceback_lines))
    hits = re.findall(r"^(?:Cell In\[\d*\], )?line (\d+)", text, flags=re.MULTILINE)
    return f"line {hits[0]}" if hits else ""
