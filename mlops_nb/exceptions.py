"""Every error mlops_nb raises on purpose: one root class, a message that says what to do, an HTTP status."""

from collections.abc import Callable

from mlops_nb.redact import redact


class MlopsError(Exception):
    """Root of mlops_nb's errors. The message names the problem and the fix; credentials in URLs are
    hidden from both (they reach notebooks, logs and REST answers)."""

    status = 400

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        message = redact(message)
        hint = redact(hint) if hint else hint
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} {hint}")

    @property
    def _render_traceback_(self) -> Callable[[], list[str]]:
        """IPython shows a user mistake (a 4xx error) as its message, without a Python traceback; for
        other errors the attribute is absent, so IPython shows its usual traceback."""
        if self.status >= 500:
            raise AttributeError("_render_traceback_")
        return lambda: [f"{type(self).__name__}: {self}"]


class UsageError(MlopsError):
    """A command, magic or API call was used the wrong way."""


class ConfigError(MlopsError):
    """Project settings or a pipeline file are invalid."""


class UnsupportedDataError(MlopsError):
    """A split or dataset is of a type mlops_nb cannot fingerprint."""


class NoActiveRunError(MlopsError):
    """An operation needs a tracked run and there is none."""


class NotFoundError(MlopsError):
    """An experiment, run or model version does not exist."""

    status = 404


class TooLargeError(MlopsError):
    """A file is larger than what is read or shown at once."""

    status = 413


class StoreError(MlopsError):
    """The MLflow store could not be reached or written."""

    status = 503


class PipelineFailedError(MlopsError):
    """A pipeline run (or a sweep) ended FAILED; `result` holds what was recorded."""

    status = 500

    def __init__(self, message: str, *, result: object = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result


class NotebookFailedError(MlopsError):
    """A notebook execution failed: a cell raised, the kernel died, or a timeout expired.

    `kind` is cell_error, dead_kernel (with `exit_code`), timeout or kernel_start; `cell` the index of
    the failing cell in the source notebook; `output` the partial output notebook, always written.
    """

    status = 500

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        hint: str | None = None,
        cell: int | None = None,
        exit_code: int | None = None,
        output: object = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind
        self.cell = cell
        self.exit_code = exit_code
        self.output = output


class GateFailedError(MlopsError):
    """A data or model gate failed; the message says which check failed, by how much, against what."""

    status = 422


class ReleaseRefusedError(MlopsError):
    """A release was refused (failing smoke test, release order); `release` holds the refused record, if any."""

    status = 409

    def __init__(self, message: str, *, release: object = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.release = release


class PromotionRefusedError(MlopsError):
    """A promotion was refused: a gate failed (`gates` holds every gate, failing or not) or an approval
    was not allowed."""

    status = 409

    def __init__(self, message: str, *, gates: list | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.gates = list(gates or [])


class ReproductionRefusedError(MlopsError):
    """A reproduction was refused before it ran: its data source changed since the record, or (with
    --strict-env) its environment differs from the recorded one."""

    status = 409


class ExportError(MlopsError):
    """A model could not be exported: a step has no converter, or the export's predictions differ."""


class StreamError(MlopsError):
    """A stream's source or sink could not be reached or read."""

    status = 503


class StreamUnavailableError(StreamError):
    """A stream's server went away (connection refused, lost or timed out); it may come back."""
