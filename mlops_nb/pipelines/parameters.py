"""The parameter contract of a notebook: its ``parameters``-tagged cell, parsed with ``ast``.

The cell may hold only assignments of literals (and the ``typing`` import its annotations need).
Each parameter's type is its annotation (``int``, ``float``, ``str``, ``bool``, ``list``, ``dict``,
``Literal[...]``, ``Optional[X]``, ``X | None``) or, without one, the type of its literal.
``name: T`` without a value, or ``name: T = None`` with a non-optional ``T``, is required. Values given as strings
(``-p name=value``) are converted to the declared type or rejected naming the expected type.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from mlops_nb.capture.code import PARAMETERS_TAG
from mlops_nb.exceptions import ConfigError, UsageError

_BASIC = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}
_TYPING_MODULES = {"typing", "typing_extensions"}
INVALID_CELL = "invalid parameters cell"  # how contract_of's error begins, after the notebook's path


@dataclass(frozen=True)
class ParamType:
    """A declared parameter type: a basic type name, or a set of literal choices; maybe optional."""

    base: str | None  # one of _BASIC, None for Literal or a bare None literal
    choices: tuple[Any, ...] = ()
    optional: bool = False

    def describe(self) -> str:
        """The type as a user would write it."""
        text = (
            f"Literal[{', '.join(repr(c) for c in self.choices)}]" if self.choices else (self.base or "None")
        )
        return f"{text} | None" if self.optional and (self.base is not None or self.choices) else text

    def convert(self, value: Any) -> Any:
        """`value` (a command-line string or a YAML/Python value) as this type; ValueError if not."""
        if value is None or (
            isinstance(value, str) and value.strip() in {"None", "null"} and self.base != "str"
        ):
            if self.optional or self.base is None:
                return None
            raise ValueError("None is not allowed")
        if self.choices:
            for choice in self.choices:
                if value == choice or (isinstance(value, str) and value == str(choice)):
                    return choice
            raise ValueError(f"not one of {list(self.choices)}")
        return _convert_basic(self.base or "str", value)


def _convert_basic(base: str, value: Any) -> Any:
    if base == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ValueError("not a string")
    if base == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("not a boolean (true/false)")
    if base == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                raise ValueError(f"{value!r} is not an integer") from None
        raise ValueError("not an integer")
    if base == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise ValueError(f"{value!r} is not a number") from None
        raise ValueError("not a number")
    expected = _BASIC[base]
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError) as exc:
            raise ValueError(f"not a {base} literal") from exc
    if not isinstance(value, expected):
        raise ValueError(f"not a {base}")
    return value


@dataclass(frozen=True)
class Parameter:
    """One parameter of the contract."""

    name: str
    type: ParamType
    default: Any = None
    required: bool = False
    line: int = 0  # line in the parameters cell (1-based)


@dataclass(frozen=True)
class Problem:
    """Something wrong with a notebook, located by cell (0-based index) and line, with its fix."""

    check: str
    message: str
    fix: str
    cell: int | None = None
    line: int | None = None


@dataclass
class Contract:
    """The parameters of a notebook, in the order the cell declares them."""

    parameters: dict[str, Parameter] = field(default_factory=dict)
    cell: int | None = None

    def with_defaults(self, overrides: Mapping[str, Any], *, where: str = "pipeline file") -> Contract:
        """A contract whose defaults are replaced by `overrides` (typed YAML values)."""
        values = self.resolve(overrides, where=where, check_required=False)
        params = {
            name: Parameter(
                p.name, p.type, values.get(name, p.default), p.required and name not in values, p.line
            )
            for name, p in self.parameters.items()
        }
        return Contract(params, self.cell)

    def declared(self) -> str:
        """The parameters as the cell declares them: ``C: float, seed: int``."""
        return ", ".join(f"{p.name}: {p.type.describe()}" for p in self.parameters.values()) or "(none)"

    def problem(self, name: str, value: Any) -> tuple[str, str] | None:
        """What is wrong with `value` for parameter `name`, worded to follow the place that gives it
        (``parameters.C`` must be float, not 'abc'), and its fix; None when nothing is."""
        if name not in self.parameters:
            return "is not a parameter of the notebook", f"Its parameters cell declares: {self.declared()}."
        kind = self.parameters[name].type.describe()
        try:
            self.parameters[name].type.convert(value)
        except (ValueError, TypeError):
            return f"must be {kind}, not {value!r}", f"Give {name} a value of type {kind}."
        return None

    def resolve(
        self, given: Mapping[str, Any], *, where: str = "-p", check_required: bool = True
    ) -> dict[str, Any]:
        """The typed values of `given`; unknown names, wrong types and missing required values are errors."""
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise UsageError(
                f"Unknown parameter(s) {', '.join(unknown)} ({where}).",
                hint=f"The notebook's parameters cell declares: {self.declared()}.",
            )
        values: dict[str, Any] = {}
        for name, raw in given.items():
            param = self.parameters[name]
            try:
                values[name] = param.type.convert(raw)
            except (ValueError, TypeError) as exc:
                raise UsageError(
                    f"Parameter {name}={raw!r} ({where}): expected {param.type.describe()}, {exc}.",
                    hint=f"Give {name} a value of type {param.type.describe()}.",
                ) from exc
        if check_required:
            missing = [p.name for p in self.parameters.values() if p.required and p.name not in values]
            if missing:
                raise UsageError(
                    f"Missing required parameter(s): {', '.join(missing)}.",
                    hint="Pass them with -p name=value or set them under `parameters:` in the pipeline file.",
                )
        return values

    def values(self, given: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Defaults overlaid with the typed `given` values: everything papermill injects."""
        typed = self.resolve(given, **kwargs)
        return {name: typed.get(name, p.default) for name, p in self.parameters.items()}


def parse_pairs(pairs: list[str] | None) -> dict[str, str]:
    """``-p name=value`` strings into a dict; a pair without ``=`` is an error."""
    result: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(
                f"Parameter {pair!r} is not of the form name=value.", hint="Write e.g. -p lr=0.1."
            )
        result[name.strip()] = value
    return result


def _annotation(node: ast.expr) -> ParamType:
    """The ParamType of an annotation expression; ValueError for anything unsupported."""
    if isinstance(node, ast.Constant) and node.value is None:
        return ParamType(None, optional=True)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _annotation(ast.parse(node.value, mode="eval").body)  # string annotation
    if isinstance(node, ast.Name | ast.Attribute):
        name = node.id if isinstance(node, ast.Name) else node.attr
        if name in _BASIC:
            return ParamType(name)
        if name in {"List", "Dict"}:
            return ParamType(name.lower())
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _annotation(node.left), _annotation(node.right)
        if right.base is None and not right.choices:
            return ParamType(left.base, left.choices, optional=True)
        if left.base is None and not left.choices:
            return ParamType(right.base, right.choices, optional=True)
    if isinstance(node, ast.Subscript):
        head = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", "")
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Literal":
            return ParamType(None, tuple(ast.literal_eval(a) for a in args))
        if head == "Optional" and len(args) == 1:
            inner = _annotation(args[0])
            return ParamType(inner.base, inner.choices, optional=True)
        if head in {"list", "List", "dict", "Dict"}:
            return ParamType(head.lower())
    raise ValueError(f"unsupported annotation `{ast.unparse(node)}`")


def _literal_type(value: Any) -> ParamType:
    if value is None:
        return ParamType(None, optional=True)
    for name, kind in (
        ("bool", bool),
        ("int", int),
        ("float", float),
        ("str", str),
        ("list", list),
        ("dict", dict),
    ):
        if isinstance(value, kind):
            return ParamType(name)
    raise ValueError(f"unsupported literal type {type(value).__name__}")


def parse_cell(source: str, cell: int | None = None) -> tuple[Contract, list[Problem]]:
    """Parse a parameters cell's source into a contract, collecting every problem found."""
    problems: list[Problem] = []
    contract = Contract(cell=cell)
    fix = "Keep only `name: type = literal` lines in the parameters cell; move other code to a later cell."
    try:
        tree = ast.parse(_strip_magics(source))
    except SyntaxError as exc:
        return contract, [
            Problem("parameters", f"syntax error: {exc.msg}", "Fix the syntax.", cell, exc.lineno)
        ]
    for stmt in tree.body:
        line = stmt.lineno
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, annotation, value_node = stmt.targets[0].id, None, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name, annotation, value_node = stmt.target.id, stmt.annotation, stmt.value
        elif (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ) or _imports_typing(stmt):
            continue  # a docstring-like comment, or the import the annotations need (evaluated at run time)
        else:
            problems.append(
                Problem(
                    "parameters", f"`{ast.unparse(stmt)[:60]}` is not a literal assignment", fix, cell, line
                )
            )
            continue
        has_value = value_node is not None
        try:
            value = ast.literal_eval(value_node) if value_node is not None else None
        except ValueError:
            problems.append(
                Problem(
                    "parameters",
                    f"`{name}` is assigned a non-literal `{ast.unparse(value_node)}`",
                    fix,
                    cell,
                    line,
                )
            )
            continue
        try:
            ptype = _annotation(annotation) if annotation is not None else _literal_type(value)
        except (ValueError, SyntaxError) as exc:
            problems.append(
                Problem(
                    "parameters",
                    f"`{name}`: {exc}",
                    "Annotate with int, float, str, bool, list, dict, Literal[...] or Optional[...].",
                    cell,
                    line,
                )
            )
            continue
        required = not has_value or (value is None and not ptype.optional)
        if has_value and value is not None:
            try:
                value = ptype.convert(value)
            except ValueError as exc:
                problems.append(
                    Problem(
                        "parameters",
                        f"`{name}` = {value!r} does not match its annotation {ptype.describe()}: {exc}",
                        "Make the default match the annotation.",
                        cell,
                        line,
                    )
                )
                continue
        contract.parameters[name] = Parameter(name, ptype, value, required, line)
    return contract, problems


def _imports_typing(stmt: ast.stmt) -> bool:
    """True for ``from typing import ...`` / ``import typing``: what ``Literal``/``Optional`` need."""
    if isinstance(stmt, ast.ImportFrom):
        return stmt.level == 0 and stmt.module in _TYPING_MODULES
    return isinstance(stmt, ast.Import) and all(a.name in _TYPING_MODULES for a in stmt.names)


def _strip_magics(source: str) -> str:
    """Comment out IPython magics and shell escapes so ``ast`` can parse the cell."""
    return "\n".join("#" + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())


def find_cell(nb: nbformat.NotebookNode) -> int | None:
    """Index of the first code cell tagged ``parameters``, or None."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            return index
    return None


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read a notebook, or raise a ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"Notebook {path} does not exist.",
            hint="Check the path: a relative one starts from the current folder.",
        )
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:
        raise ConfigError(f"{path} is not a readable notebook: {exc}.") from exc


def inspect(nb: nbformat.NotebookNode) -> tuple[Contract, list[Problem]]:
    """The contract of a notebook and the problems of its parameters cell (a missing cell is one)."""
    index = find_cell(nb)
    if index is None:
        return Contract(), [
            Problem(
                "parameters",
                "no cell is tagged `parameters`",
                "Put the tunable values (name: type = literal) in one code cell and add the tag `parameters` "
                "(JupyterLab: Property Inspector → Cell Tags).",
            )
        ]
    return parse_cell(nb.cells[index].source, index)


def contract_of(path: str | Path) -> Contract:
    """The parameter contract of the notebook at `path`; ConfigError listing the problems if invalid."""
    contract, problems = inspect(read_notebook(path))
    if problems:
        lines = "; ".join(
            f"{'cell ' + str(p.cell) if p.cell is not None else 'notebook'}"
            f"{' line ' + str(p.line) if p.line else ''}: {p.message}"
            for p in problems
        )
        raise ConfigError(f"{path}: {INVALID_CELL}: {lines}.", hint=problems[0].fix)
    return contract
