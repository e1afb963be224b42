"""One requirement inference per model *shape* across the kernels of a pipeline run or sweep.

When a model is logged without ``pip_requirements``, MLflow infers them by loading the saved model in a
fresh Python process and recording what it imports (≈3 s, mostly ``import mlflow``). The points of a
sweep log models that differ in their weights, not in what loading them imports. What loading imports
is decided by the flavor, the MLmodel's flavor configuration, the Python environment and the names
the serialized model refers to: a pickle's GLOBAL opcodes and string constants, a skops file's
``__module__``/``__class__``/``__loader__`` entries; numbers and array buffers cannot import anything.
That is this cache's key: a model whose key was seen before gets the recorded module list; any other
file enters the key by its full content, so such models share an inference only when identical.

The runner hands its kernels a folder (``MLOPS_NB_REQUIREMENTS_CACHE``) that lives as long as the run
or sweep, so an environment change between runs never meets a stale entry.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import pickletools
import sys
import zipfile
from pathlib import Path
from typing import Any

from mlops_nb import mlflow_internals
from mlops_nb.store import file_lock

# Files MLflow writes next to the model that loading does not execute; the MLmodel enters the key by
# its flavor configuration (the rest of it is ids and timestamps).
_METADATA = {"MLmodel", "conda.yaml", "python_env.yaml", "requirements.txt", "registered_model_meta"}
_SKOPS_DATA_KEYS = {"__id__", "file"}  # object ids and array member names: differ between equal models
_STRING_OPS = {
    "UNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
}


def install(folder: str | Path) -> None:
    """Route MLflow's requirement inference in this process through the cache in `folder`."""
    capture = mlflow_internals.requirement_inference()
    if getattr(capture, "mlops_nb_cache", None) == str(folder):
        return
    original = getattr(capture, "__wrapped__", capture)
    cache = Path(folder)

    @functools.wraps(original)
    def cached(model_uri: Any, flavor: str, *args: Any, **kwargs: Any) -> list[str]:
        key = model_key(model_uri, flavor, args, kwargs)
        if key is None:
            return original(model_uri, flavor, *args, **kwargs)
        entry = cache / f"{key}.json"
        # Kernels logging the same shape at once: one infers, the others wait for its answer.
        with file_lock(cache / f"{key}.lock"):
            try:
                return json.loads(entry.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                pass  # not inferred yet (or a torn entry): infer now
            modules = original(model_uri, flavor, *args, **kwargs)
            entry.write_text(json.dumps(modules), encoding="utf-8")
            return modules

    cached.mlops_nb_cache = str(folder)  # type: ignore[attr-defined]
    mlflow_internals.replace_requirement_inference(cached)


def model_key(
    model_uri: Any, flavor: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
) -> str | None:
    """The cache key of the model saved at `model_uri` (a local folder or the data file in one), or None."""
    import mlflow
    import yaml

    given = Path(str(model_uri))
    path = given if given.is_dir() else given.parent  # flavors pass the model folder or its data file
    if not (path / "MLmodel").is_file():
        return None
    try:
        flavors = (yaml.safe_load((path / "MLmodel").read_text(encoding="utf-8")) or {}).get("flavors")
    except (OSError, yaml.YAMLError):
        return None
    digest = hashlib.sha256()
    context = [
        mlflow.__version__,
        sys.executable,
        sys.path,
        given.relative_to(path).as_posix(),
        flavor,
        repr(args),
        repr(sorted((kwargs or {}).items())),
    ]
    digest.update(json.dumps([context, flavors], sort_keys=True, default=str).encode())
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        if relative in _METADATA:
            continue
        data = file.read_bytes()
        shape = pickle_shape(data) if file.suffix != ".skops" else skops_shape(data)
        digest.update(f"\0{relative}\0{'pickle' if shape is not None else 'bytes'}\0".encode())
        digest.update(json.dumps(shape).encode() if shape is not None else hashlib.sha256(data).digest())
    return digest.hexdigest()


def pickle_shape(data: bytes) -> list[str] | None:
    """The sorted module names and strings a pickle refers to, or None when `data` is not one pickle."""
    names: set[str] = set()
    end = -1
    try:
        for opcode, arg, position in pickletools.genops(data):
            if opcode.name == "GLOBAL":
                names.update(str(arg).split(" "))
            elif opcode.name in _STRING_OPS:
                names.add(arg if isinstance(arg, str) else repr(arg))
            elif opcode.name == "STOP":
                end = position + 1
    except Exception:  # not a pickle (or a truncated one): the caller keys the file by its content
        return None
    return sorted(names) if end == len(data) else None


def skops_shape(data: bytes) -> list[str] | None:
    """The strings of a skops file's schema except numbers and array file names, or None when not one.

    Loading a skops file imports what its nodes name (``__module__``/``__class__``, function and type
    nodes' contents); its arrays (``.npy`` members) and JSON numbers are data."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _SKOPS_DATA_KEYS or (key == "content" and _json_number(node, value)):
                    continue
                if isinstance(value, str):
                    names.add(f"{key}={value}")
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.namelist()
            if "schema.json" not in members or any(
                m != "schema.json" and not m.endswith(".npy") for m in members
            ):
                return None
            walk(json.loads(archive.read("schema.json")))
    except (zipfile.BadZipFile, ValueError):
        return None
    return sorted(names)


def _json_number(node: dict[str, Any], content: Any) -> bool:
    """True for the content of a skops JSON node holding a number, a bool or null."""
    if node.get("__loader__") != "JsonNode" or not isinstance(content, str):
        return False
    try:
        return not isinstance(json.loads(content), str | list | dict)
    except ValueError:
        return False
