"""Warm kernels: fresh IPython kernels forked from a process that already imported the heavy modules.

Starting a kernel and importing MLflow, pandas and scikit-learn costs seconds per notebook run. A
*zygote* process imports them once; each kernel is a ``fork()`` of it that then starts a brand-new
IPython kernel. The notebook's code therefore runs in a fresh interpreter state (empty user
namespace, reseeded random generators, nothing left by another run: each kernel serves exactly one
notebook and exits), but ``import sklearn`` is a dictionary lookup. The zygote only imports: it opens
no store connection and starts no thread, so forking it is safe.

jupyter_client launches a small *proxy* process per kernel (the kernel spec's command): it asks the
zygote for a kernel, forwards signals (interrupt, terminate) to it and exits with the kernel's exit
code, so a dead kernel is reported with its real code. When the proxy dies (e.g. killed after a
timeout), the zygote kills the kernel; when the owner of the zygote goes away, the zygote kills all
of its kernels and exits.

    python -m mlops_nb.pipelines.warm serve SOCKET [MODULE ...]   # the zygote
    python -m mlops_nb.pipelines.warm attach SOCKET -f CONNECTION_FILE   # the proxy (kernel spec argv)
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import importlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

KERNEL_NAME = "mlops-nb-warm"
ALWAYS_PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "numpy",
    "pandas",
    "mlflow",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlops_nb",
    "mlops_nb.capture.session",
    "mlops_nb.capture.magics",
    "mlops_nb.capture.data",
)
# Modules that pick a GUI backend or start threads at import: never imported before fork.
_NEVER_PRELOAD = (
    "matplotlib.pyplot",
    "pylab",
    "seaborn",
    "torch",
    "tensorflow",
    "jax",
    "ray",
    "dask",
    "distributed",
    "tqdm",
)
_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # what ipykernel sets for a kernel


def preload_modules(sources: Iterable[str]) -> list[str]:
    """The modules that code cells `sources` import, plus the always-warm ones, minus fork-unsafe ones."""
    found: list[str] = list(ALWAYS_PRELOAD)
    for source in sources:
        text = "\n".join("#" + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                if not name.startswith(_NEVER_PRELOAD) and name not in found:
                    found.append(name)
    if any(name.startswith("sklearn") for name in found):
        found += [m for m in ("mlflow.sklearn", "matplotlib") if m not in found]  # what sklearn autolog uses
    return found


def _warm_up(modules: Sequence[str]) -> None:
    """Import `modules`; with mlflow.sklearn, also the estimator modules its autologging walks."""
    for name in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    if "mlflow.sklearn" in sys.modules:
        with contextlib.suppress(Exception):
            from sklearn.utils import all_estimators

            all_estimators()


# --- the zygote -------------------------------------------------------------------------------------------


def _start_kernel_child(request: dict[str, Any], zygote_path0: str) -> None:
    """In the forked child: become a fresh IPython kernel; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        if sys.path and sys.path[0] == zygote_path0:
            del sys.path[0]  # IPython puts '' (the working directory) first, as in a launched kernel
        import random

        random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        os.environ.setdefault("MPLBACKEND", _INLINE_BACKEND)
        if "matplotlib" in sys.modules:  # it read MPLBACKEND at import, in the zygote
            sys.modules["matplotlib"].rcParams["backend"] = os.environ["MPLBACKEND"]
        from ipykernel import kernelapp

        sys.argv = ["ipykernel_launcher", *request["argv"]]
        kernelapp.IPKernelApp.launch_instance(argv=request["argv"])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(socket_path: str, modules: Sequence[str]) -> None:
    """Run the zygote: listen first (callers queue), import `modules`, then fork one kernel per request."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the owner, not the zygote
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    _warm_up(modules)
    path0 = sys.path[0] if sys.path else ""
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(sys.stdin, selectors.EVENT_READ, "owner")
    kernels: dict[int, socket.socket] = {}  # kernel pid -> its proxy's connection
    pending: dict[socket.socket, bytes] = {}
    while True:
        for key, _ in selector.select(timeout=0.05):
            if key.data == "owner":
                if not sys.stdin.buffer.read1(4096):  # the owner went away: stop everything
                    for pid in kernels:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    os._exit(0)
            elif key.data == "accept":
                conn, _ = listener.accept()
                pending[conn] = b""
                selector.register(conn, selectors.EVENT_READ, "conn")
            else:
                conn = key.fileobj
                chunk = conn.recv(1 << 16)
                if conn in pending:
                    pending[conn] += chunk
                    if not chunk:
                        selector.unregister(conn)
                        del pending[conn]
                        conn.close()
                    elif pending[conn].endswith(b"\n"):
                        request = json.loads(pending.pop(conn))
                        pid = os.fork()
                        if pid == 0:
                            for held in (listener, selector, conn, *kernels.values(), *pending):
                                held.close()
                            _start_kernel_child(request, path0)
                        kernels[pid] = conn
                        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                elif not chunk:  # the proxy died: its kernel must not outlive it
                    selector.unregister(conn)
                    for pid, owner in kernels.items():
                        if owner is conn:
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(pid, signal.SIGKILL)
        while kernels:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = kernels.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
                with contextlib.suppress(KeyError, ValueError):
                    selector.unregister(conn)
                conn.close()


# --- the proxy --------------------------------------------------------------------------------------------


def attach(socket_path: str, argv: Sequence[str], *, connect_timeout: float = 60.0) -> int:
    """Ask the zygote for a kernel, relay signals to it, and return its exit code."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deadline = time.monotonic() + connect_timeout
    while True:
        try:
            conn.connect(socket_path)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                print(f"mlops-nb: no warm-kernel zygote at {socket_path}", file=sys.stderr)
                return 70
            time.sleep(0.02)
    request = {"argv": list(argv), "env": dict(os.environ), "cwd": os.getcwd()}
    conn.sendall(json.dumps(request).encode() + b"\n")
    replies = conn.makefile("rb")
    first = replies.readline()
    if not first:
        return 70
    pid = json.loads(first)["pid"]

    def relay(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    for signum in (
        signal.SIGINT,
        signal.SIGTERM,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
    ):
        signal.signal(signum, relay)
    last = replies.readline()
    if not last:
        return 70
    code = json.loads(last)["exit"]
    return code if code >= 0 else 128 - code


# --- the owner --------------------------------------------------------------------------------------------


class WarmKernels:
    """A zygote owned by this process and the kernel spec that starts kernels from it."""

    def __init__(self, modules: Sequence[str] = ALWAYS_PRELOAD, *, python: str = sys.executable) -> None:
        self.modules = tuple(modules)
        self.dir = Path(tempfile.mkdtemp(prefix="mlw", dir="/tmp" if Path("/tmp").is_dir() else None))
        self.socket = str(self.dir / "z")  # AF_UNIX paths must stay short
        spec_dir = self.dir / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        argv = [python, "-m", "mlops_nb.pipelines.warm", "attach", self.socket, "-f", "{connection_file}"]
        spec = {
            "argv": argv,
            "display_name": "Python 3 (mlops-nb warm)",
            "language": "python",
            "interrupt_mode": "signal",
            "metadata": {"debugger": False},
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
        self._log = (self.dir / "zygote.log").open("ab")
        self.process = subprocess.Popen(
            [python, "-m", "mlops_nb.pipelines.warm", "serve", self.socket, *self.modules],
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=self._log,
            cwd=self.dir,
        )

    @property
    def kernel_dirs(self) -> list[str]:
        """Folders holding the warm kernel spec (for a KernelSpecManager)."""
        return [str(self.dir / "kernels")]

    def alive(self) -> bool:
        """True while the zygote runs."""
        return self.process.poll() is None

    def close(self) -> None:
        """Stop the zygote (which kills its kernels) and remove its folder."""
        if self.process.stdin and not self.process.stdin.closed:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


_shared: dict[tuple[str, ...], WarmKernels] = {}
_shared_lock = threading.Lock()


def shared(modules: Sequence[str]) -> WarmKernels:
    """This process's zygote for `modules`, started on first use and stopped at exit."""
    key = tuple(modules)
    with _shared_lock:
        warm = _shared.get(key)
        if warm is None or not warm.alive():
            warm = _shared[key] = WarmKernels(key)
            atexit.register(warm.close)
        return warm


def _main(argv: Sequence[str]) -> int:
    if len(argv) >= 2 and argv[0] == "serve":
        serve(argv[1], argv[2:])
        return 0
    if len(argv) >= 2 and argv[0] == "attach":
        return attach(argv[1], argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
