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
import pickle
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
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

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
    "mlops_nb.ipython.magics",
    "mlops_nb.capture.data",
    "mlops_nb.capture.profile",
)
# Modules that pick a GUI backend or start threads at import: never imported before fork.
_NEVER_PRELOAD = (
    "pylab",
    "seaborn",
    "torch",
    "tensorflow",
    "jax",
    "ray",
    "dask",
    "distributed",
    "tqdm",
)  # matplotlib is fine: pyplot picks its backend lazily, and each kernel sets the inline one
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
        extra = ("mlflow.sklearn", "matplotlib.pyplot", "sklearn.metrics")  # what sklearn autologging uses
        found += [m for m in extra if m not in found]
    return found


def _warm_up(modules: Sequence[str]) -> None:
    """Import `modules`, then fill the caches that each run would rebuild: the estimator list that
    sklearn autologging walks and MLflow's module-to-package map."""
    for name in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    if "ipykernel.kernelapp" not in modules:  # not a kernel zygote: the caches below serve notebooks
        return
    if "mlflow.sklearn" in sys.modules:
        with contextlib.suppress(Exception):
            from sklearn.utils import all_estimators

            all_estimators()
    if "mlflow" in sys.modules:  # the module -> package map that every log_model builds (about 1 s)
        with contextlib.suppress(Exception):
            from mlops_nb import mlflow_internals

            mlflow_internals.warm_package_map()


# --- the zygote -------------------------------------------------------------------------------------------


def _exit_child(code: int) -> None:
    """End a forked child: its exit handlers and buffered output, then no parent cleanup (never returns)."""
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


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
        _exit_child(code)


def _call_child(request: dict[str, Any], fds: list[int]) -> None:
    """In a forked child: call the pickled function, pickle its outcome in its place; never returns."""
    code = 0
    try:
        for target_fd, fd in enumerate(fds):
            os.dup2(fd, target_fd)
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        with open(request["payload"], "rb") as handle:
            module, name, args, kwargs = pickle.load(handle)
        try:
            outcome: tuple[Any, ...] = ("ok", getattr(importlib.import_module(module), name)(*args, **kwargs))
        except KeyboardInterrupt:
            outcome = ("interrupt",)
        except Exception as exc:
            outcome = ("error", type(exc).__module__, type(exc).__qualname__, str(exc), dict(vars(exc)))
        with open(request["payload"], "wb") as handle:
            try:
                pickle.dump(outcome, handle)
            except Exception as exc:  # an unpicklable result or error: say so
                handle.seek(0)
                pickle.dump(("error", "builtins", "RuntimeError", f"{outcome[0]}: {exc}", {}), handle)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        _exit_child(code)


def serve(socket_path: str, modules: Sequence[str]) -> None:
    """Run the zygote: listen first (callers queue), import `modules`, then fork one child per request."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the owner, not the zygote
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    _warm_up(modules)
    path0 = sys.path[0] if sys.path else ""
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(sys.stdin, selectors.EVENT_READ, "owner")
    kernels: dict[int, socket.socket] = {}  # child pid -> the connection of its proxy or caller
    pending: dict[socket.socket, bytes] = {}
    received: dict[socket.socket, list[int]] = {}  # a caller's stdin/stdout/stderr, passed with its request
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
                if conn in pending:
                    chunk, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
                    received[conn] = received.get(conn, []) + list(fds)
                    pending[conn] += chunk
                    if not chunk:
                        selector.unregister(conn)
                        del pending[conn]
                        for fd in received.pop(conn, []):
                            os.close(fd)
                        conn.close()
                    elif pending[conn].endswith(b"\n"):
                        request = json.loads(pending.pop(conn))
                        fds = received.pop(conn, [])
                        pid = os.fork()
                        if pid == 0:
                            for held in (listener, selector, conn, *kernels.values(), *pending):
                                held.close()
                            if request.get("kind") == "call":
                                _call_child(request, fds)
                            _start_kernel_child(request, path0)
                        for fd in fds:
                            os.close(fd)
                        kernels[pid] = conn
                        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                    continue
                chunk = conn.recv(1 << 16)
                if chunk:
                    continue
                # the proxy (or caller) died: its child must not outlive it
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


def _connect(socket_path: str, timeout: float) -> socket.socket:
    """A connection to the zygote, waiting for it to start listening."""
    deadline = time.monotonic() + timeout
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(socket_path)
            return conn
        except (FileNotFoundError, ConnectionRefusedError):
            conn.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def attach(socket_path: str, argv: Sequence[str], *, connect_timeout: float = 60.0) -> int:
    """Ask the zygote for a kernel, relay signals to it, and return its exit code."""
    try:
        conn = _connect(socket_path, connect_timeout)
    except OSError:
        print(f"mlops-nb: no warm-kernel zygote at {socket_path}", file=sys.stderr)
        return 70
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

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function(*args, **kwargs)`` in a process forked from the zygote (heavy modules already
        imported) with this process's terminal, environment and working directory; return its result or
        raise its exception. Ctrl-C is relayed to the child."""
        with tempfile.TemporaryDirectory(prefix="mlc", dir=self.dir) as folder:
            payload = Path(folder) / "call.pickle"
            payload.write_bytes(pickle.dumps((function.__module__, function.__qualname__, args, kwargs)))
            request = {"kind": "call", "payload": str(payload), "env": dict(os.environ), "cwd": os.getcwd()}
            conn = _connect(self.socket, 60.0)
            socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
            replies = conn.makefile("rb")
            pid = json.loads(replies.readline())["pid"]
            relay = threading.current_thread() is threading.main_thread()
            previous = signal.signal(signal.SIGINT, lambda *_: os.kill(pid, signal.SIGINT)) if relay else None
            try:
                last = replies.readline()
            finally:
                if relay:
                    signal.signal(signal.SIGINT, previous)
                conn.close()
            code = json.loads(last)["exit"] if last else None
            try:
                outcome = pickle.loads(payload.read_bytes())
            except Exception:
                outcome = (
                    "error",
                    "builtins",
                    "RuntimeError",
                    f"the forked process ended with code {code}",
                    {},
                )
        if outcome[0] == "ok":
            return outcome[1]
        if outcome[0] == "interrupt":
            raise KeyboardInterrupt
        raise _rebuild(*outcome[1:])

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


def _rebuild(module: str, name: str, text: str, attributes: dict[str, Any]) -> BaseException:
    """An exception raised in a forked child, rebuilt with its attributes (message, hint, result...)."""
    cls: Any = importlib.import_module(module)
    for part in name.split("."):
        cls = getattr(cls, part, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        return RuntimeError(f"{module}.{name}: {text}")
    exc = cls.__new__(cls)
    exc.args = (text,)
    vars(exc).update(attributes)
    return exc


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
