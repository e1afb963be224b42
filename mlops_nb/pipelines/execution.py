"""One papermill execution of a notebook, in a cold or warm kernel, with failures told apart.

A failed execution raises :class:`NotebookFailedError` carrying its kind (``cell_error``, ``dead_kernel``
with the kernel's exit code, ``timeout`` per cell or for the whole run, ``kernel_start``), the cell
(index in the source notebook) and the path of the partial output notebook, which is always written.
Each kernel gets its own IPC socket folder, so parallel executions never race for TCP ports.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager

from mlops_nb.capture.code import INJECTED_TAG
from mlops_nb.exceptions import NotebookFailedError
from mlops_nb.pipelines.cancel import Cancellation
from mlops_nb.pipelines.completion import check_complete
from mlops_nb.pipelines.warm import KERNEL_NAME


@dataclass
class Execution:
    """What to execute and how (the settings papermill receives)."""

    notebook: Path
    output: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # added to this process's environment for the kernel
    cell_timeout: float | None = None
    run_timeout: float | None = None
    start_timeout: float = 60.0
    kernel_name: str | None = None  # a cold kernel spec (default python3) when no warm kernels are given
    warm_dirs: list[str] | None = None  # kernel-spec folders of a WarmKernels zygote (any process may use it)
    progress: bool | dict[str, Any] = False
    cancel: Cancellation | None = None  # cancelling it kills the kernel; execute() raises KeyboardInterrupt


class _KernelManager(AsyncKernelManager):
    """Starts the kernel with extra environment variables and the notebook's folder as working
    directory (without chdir in this process), and keeps the process to read its exit code."""

    def configure(self, env: dict[str, str], cwd: Path) -> None:
        self.extra_env = env
        self.kernel_cwd = str(cwd)
        self.launched: subprocess.Popen[bytes] | None = None

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        env = dict(kw.pop("env", None) or os.environ)
        env.update(self.extra_env)
        kw["env"] = env
        kw.setdefault("cwd", self.kernel_cwd)
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        await super()._async_launch_kernel(kernel_cmd, **kw)
        self.launched = getattr(self.provisioner, "process", None)

    def kill_now(self) -> None:
        """SIGKILL the kernel's process group (used by the whole-run watchdog)."""
        if self.launched is not None and self.launched.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.launched.pid, signal.SIGKILL)

    def exit_code(self) -> int | None:
        """The kernel process's exit code once it has ended."""
        if self.launched is None:
            return None
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.launched.wait(timeout=5)
        return None


def _source_index(output: Path, index: int | None) -> int | None:
    """Map a cell index of the output notebook (with papermill's injected cell) to the source notebook."""
    if index is None or not output.is_file():
        return index
    nb = nbformat.read(output, as_version=4)
    injected = next((i for i, c in enumerate(nb.cells) if INJECTED_TAG in c.metadata.get("tags", [])), None)
    return index - 1 if injected is not None and index > injected else index


def _last_started(output: Path) -> int | None:
    if not output.is_file():
        return None
    nb = nbformat.read(output, as_version=4)
    started = [i for i, c in enumerate(nb.cells) if c.metadata.get("papermill", {}).get("start_time")]
    return started[-1] if started else None


def execute(ex: Execution) -> nbformat.NotebookNode:
    """Run the notebook; return the executed notebook or raise NotebookFailedError (output saved either way)."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    ex.output.parent.mkdir(parents=True, exist_ok=True)
    sockets = Path(tempfile.mkdtemp(prefix="mlk", dir="/tmp" if Path("/tmp").is_dir() else None))
    if ex.warm_dirs:
        kernel_name, spec_manager = KERNEL_NAME, KernelSpecManager(kernel_dirs=ex.warm_dirs)
    else:
        kernel_name, spec_manager = ex.kernel_name or "python3", KernelSpecManager()
    km = _KernelManager(
        kernel_name=kernel_name, kernel_spec_manager=spec_manager, transport="ipc", ip=str(sockets / "k")
    )
    km.configure(ex.env, ex.notebook.parent)
    fired = threading.Event()

    def watchdog() -> None:
        fired.set()
        km.kill_now()

    timer = threading.Timer(ex.run_timeout, watchdog) if ex.run_timeout else None
    cancelled = threading.Event()

    def cancel_now() -> None:
        cancelled.set()
        km.kill_now()

    remove_cancel = ex.cancel.on_cancel(cancel_now) if ex.cancel else None
    if timer:
        timer.daemon = True
        timer.start()
    papermill_log = logging.getLogger("papermill")
    level = papermill_log.level
    papermill_log.setLevel(logging.ERROR)  # its "Passed unknown parameter" guess is replaced by our contract
    try:
        nb = papermill.execute_notebook(
            str(ex.notebook),
            str(ex.output),
            parameters=ex.parameters,
            kernel_name=kernel_name,
            km=km,
            progress_bar=ex.progress,
            execution_timeout=ex.cell_timeout,
            start_timeout=ex.start_timeout,
            log_output=False,
        )
    except PapermillExecutionError as exc:
        if fired.is_set():
            raise _run_timeout(ex) from None
        cell = _source_index(ex.output, exc.cell_index)
        raise NotebookFailedError(
            f"Cell {cell} raised {exc.ename}: {exc.evalue}",
            kind="cell_error",
            cell=cell,
            output=ex.output,
            hint="Open the output notebook to see the traceback; fix the cell and run again.",
        ) from None
    except CellTimeoutError:
        cell = _source_index(ex.output, _last_started(ex.output))
        raise NotebookFailedError(
            f"Cell {cell} ran longer than the per-cell timeout of {ex.cell_timeout:g} s",
            kind="timeout",
            cell=cell,
            output=ex.output,
            hint="Make the cell faster or raise `timeouts.cell` in the pipeline file.",
        ) from None
    except DeadKernelError:
        if fired.is_set():
            raise _run_timeout(ex) from None
        code = km.exit_code()
        cell = _source_index(ex.output, _last_started(ex.output))
        raise NotebookFailedError(
            f"The kernel died with exit code {code} while running cell {cell}",
            kind="dead_kernel",
            cell=cell,
            exit_code=code,
            output=ex.output,
            hint="Look for os._exit, a crash in a C extension or memory exhaustion (exit code 137) there.",
        ) from None
    except NoSuchKernel:
        raise NotebookFailedError(
            f"There is no kernel named {kernel_name!r} on this machine",
            kind="kernel_start",
            output=ex.output,
            hint="Fix `kernel:` in the pipeline file (see `jupyter kernelspec list`) or install that kernel.",
        ) from None
    except RuntimeError as exc:
        if fired.is_set():
            raise _run_timeout(ex) from None
        raise NotebookFailedError(
            f"The kernel could not be started: {exc}",
            kind="kernel_start",
            output=ex.output,
            hint="Check the kernel spec (`jupyter kernelspec list`) or raise `timeouts.start`.",
        ) from None
    finally:
        papermill_log.setLevel(level)
        if timer:
            timer.cancel()
        _shut_down(km)
        shutil.rmtree(sockets, ignore_errors=True)
        if remove_cancel:
            remove_cancel()
        if cancelled.is_set():  # whatever the killed kernel made papermill raise
            raise KeyboardInterrupt("cancelled: the kernel was stopped")
    check_complete(nb, ex.output)  # papermill counts sys.exit(0) in a cell as success
    return nb


def _shut_down(km: _KernelManager) -> None:
    """End the kernel papermill leaves running (it does not own a `km` it is given) and remove its files.

    Gracefully, so that the kernel's exit handlers run: a session without `%mlops stop` ends there,
    flushing its metrics and recording its execution order and notebook snapshot."""
    from jupyter_core.utils import run_sync

    async def stop() -> None:
        if km.has_kernel:
            await km.shutdown_kernel(now=False)  # also removes the connection file
        else:
            await km.cleanup_resources()

    with contextlib.suppress(Exception):
        run_sync(stop)()


def _run_timeout(ex: Execution) -> NotebookFailedError:
    cell = _source_index(ex.output, _last_started(ex.output))
    return NotebookFailedError(
        f"The whole-run timeout expired in cell {cell} (the notebook had {ex.run_timeout:.1f} s left); kernel killed",
        kind="timeout",
        cell=cell,
        output=ex.output,
        hint="Make the notebook faster or raise `timeouts.run` in the pipeline file.",
    )
