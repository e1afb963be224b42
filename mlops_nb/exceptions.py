"""Every error mlops_nb raises on purpose: one root class, a message that says what to do, an HTTP status."""


class MlopsError(Exception):
    """Root of mlops_nb's errors. The message names the problem and the fix."""

    status = 400

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} {hint}")


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


class StoreError(MlopsError):
    """The MLflow store could not be reached or written."""

    status = 503


class PipelineFailedError(MlopsError):
    """A pipeline run (or a sweep) ended FAILED; `result` holds what was recorded."""

    status = 500

    def __init__(self, message: str, *, result: object = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result
