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
import re
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

from mlops_nb.capture.code import INJECTED_TAG, PARAMETERS_TAG, cell_source, cell_tags
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
    run_timeout_setting: str = (
        "`timeouts.run` in the pipeline file"  # what a user raises when run_timeout hits
    )


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


ERROR_MARKER_TAG = "papermill-error-cell-tag"  # the banner cells papermill adds to a failed output


def _executed_cells(output: Path) -> list[nbformat.NotebookNode]:
    """The cells of the output notebook as papermill executed them (without its error banner cells)."""
    if not output.is_file():
        return []
    nb = nbformat.read(output, as_version=4)
    return [c for c in nb.cells if ERROR_MARKER_TAG not in cell_tags(c)]


@dataclass(frozen=True)
class _Failed:
    """The cell that failed: its index in the source notebook, its first line, and what it wrote to
    stderr (for errors that name no exception)."""

    cell: int | None = None
    first_line: str = ""
    stderr: str = ""
    injected: bool = False  # papermill's injected-parameters cell, which the source notebook lacks

    def where(self) -> str:
        """``cell 4 (`model.fit(X)`)``, as the messages name it."""
        if self.injected:
            return "papermill's injected-parameters cell"
        if self.cell is None:
            return "an unknown cell"
        return f"cell {self.cell}" + (f" (`{self.first_line}`)" if self.first_line else "")


def _failed_cell(ex: Execution, index: int | None) -> _Failed:
    """The source cell behind cell `index` of the executed notebook.

    Papermill executes the source notebook without the error banners of an earlier failed run (a notebook
    re-saved from a failed output still has them) and with its injected-parameters cell inserted after the
    parameters cell, unless the source already has one (then it is replaced in place)."""
    if index is None:
        return _Failed()
    source = nbformat.read(ex.notebook, as_version=4).cells
    order: list[int | None] = [i for i, c in enumerate(source) if ERROR_MARKER_TAG not in cell_tags(c)]
    if ex.parameters and not any(INJECTED_TAG in cell_tags(source[i]) for i in order if i is not None):
        tagged = [k for k, i in enumerate(order) if i is not None and PARAMETERS_TAG in cell_tags(source[i])]
        order.insert(tagged[0] + 1 if tagged else 0, None)
    if not 0 <= index < len(order):
        return _Failed()
    cell = order[index]
    if cell is None:
        return _Failed(injected=True)
    lines = [ln.strip() for ln in cell_source(source[cell]).splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    executed = _executed_cells(ex.output)
    outputs = executed[index].get("outputs", []) if index < len(executed) else []
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    return _Failed(cell, first if len(first) <= 60 else first[:57] + "...", stderr.strip())


def _last_started(output: Path) -> int | None:
    started = [
        i for i, c in enumerate(_executed_cells(output)) if c.metadata.get("papermill", {}).get("start_time")
    ]
    return started[-1] if started else None


_NAMED_ERROR = re.compile(r"^(\w+(?:Error|Exception)): (.*)$", re.M)


def _cell_error(ex: Execution, exc: Any) -> NotebookFailedError:
    """A cell's exception. One that leaves no error output (a line magic's UsageError, which IPython
    prints to stderr) is named by what the cell wrote to stderr."""
    failed = _failed_cell(ex, exc.cell_index)
    ename, evalue = exc.ename, exc.evalue
    if ename == "CellExecutionError" and not evalue and failed.stderr:
        named = _NAMED_ERROR.search(failed.stderr)
        ename, evalue = named.groups() if named else ("an error", failed.stderr.splitlines()[-1])
    return NotebookFailedError(
        _sentence(f"{_capital(failed.where())} raised {ename}" + (f": {evalue}" if evalue else "")),
        kind="cell_error",
        cell=failed.cell,
        output=ex.output,
        hint="Open the output notebook to see the traceback; fix the cell and run again.",
    )


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
    # Papermill's log lines ("Passed unknown parameter", nbclient's "Kernel died while waiting for execute
    # reply") only repeat what the NotebookFailedError raised here says.
    papermill_log.setLevel(logging.CRITICAL)
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
        raise _cell_error(ex, exc) from None
    except CellTimeoutError:
        failed = _failed_cell(ex, _last_started(ex.output))
        raise NotebookFailedError(
            f"{_capital(failed.where())} ran longer than the per-cell timeout of {ex.cell_timeout:g} s.",
            kind="timeout",
            cell=failed.cell,
            output=ex.output,
            hint="Make the cell faster or raise `timeouts.cell` in the pipeline file.",
        ) from None
    except DeadKernelError:
        if fired.is_set():
            raise _run_timeout(ex) from None
        code = km.exit_code()
        failed = _failed_cell(ex, _last_started(ex.output))
        raise NotebookFailedError(
            f"The kernel died with exit code {code} while running {failed.where()}.",
            kind="dead_kernel",
            cell=failed.cell,
            exit_code=code,
            output=ex.output,
            hint="Look for os._exit, a crash in a C extension or memory exhaustion (exit code 137) there.",
        ) from None
    except NoSuchKernel:
        raise NotebookFailedError(
            f"There is no kernel named {kernel_name!r} on this machine.",
            kind="kernel_start",
            output=ex.output,
            hint="Fix `kernel:` in the pipeline file (see `jupyter kernelspec list`) or install that kernel.",
        ) from None
    except RuntimeError as exc:
        if fired.is_set():
            raise _run_timeout(ex) from None
        raise NotebookFailedError(
            _sentence(f"The kernel could not be started: {exc}"),
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
    failed = _failed_cell(ex, _last_started(ex.output))
    return NotebookFailedError(
        f"The whole-run timeout expired in {failed.where()} (the notebook had {ex.run_timeout:.1f} s left); "
        "kernel killed.",
        kind="timeout",
        cell=failed.cell,
        output=ex.output,
        hint=f"Make the notebook faster or raise {ex.run_timeout_setting}.",
    )


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sentence(text: str) -> str:
    """`text` ending in a full stop, so that the hint after it reads as the next sentence."""
    return text if text.rstrip().endswith((".", "!", "?")) else text.rstrip() + "."
