"""Where code runs each named query: with which parameters, into which Struct, from which operation.

The parameters a query gets are read from the code that runs it (see
`rawdb.checker.flow`), never declared a second time beside the SQL: a
declaration could drift from the code as easily as the SQL can. Two forms of
call are recognised:

* the store's query handles, ``_Q.fetch_one(tx, "get_task", {...}, Task)``
  (``execute``, ``fetch_one``, ``fetch_all``, ``fetch_val``; a ``limit=`` or
  ``offset=`` on ``fetch_all`` appends a paging fragment with its own
  parameters);
* any call given the SQL text of a named query, followed by its parameters:
  ``tx.fetch_one(queries.tasks.get_task, {...}, into=Task)``,
  ``tx.executemany(_Q.sql(tx, "upsert"), rows)``.

The store's updates build their SQL at run time instead:
``_COLUMNS.update_sql(key, params)`` sets the columns of ``params``. Each public
operation is walked once more, into the module's helpers with their arguments
bound (``_update(tx, "slug", ...)``), and each call that runs a built UPDATE is
recorded with the key, the columns (the full allow-list when the caller chooses
them) and the parameters it passes (`UpdateUsage`).

A call whose query name, parameters or Struct cannot be worked out is reported
as such, so no call escapes the check silently.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import msgspec

from rawdb.checker.flow import (
    UNKNOWN,
    ColumnsRef,
    Env,
    Keys,
    ModuleContext,
    QuerySetRef,
    Seq,
    SqlRef,
    Str,
    UpdateRef,
    Value,
    Walker,
    only,
    parameters,
)
from rawdb.checker.report import CannotCheck

__all__ = ["PAGING", "CodeIndex", "Unresolved", "UpdateUsage", "Usage", "analyze_modules", "store_modules"]

PAGING: dict[str, frozenset[str]] = {
    "limit_offset": frozenset({"limit", "offset"}),
    "offset_only": frozenset({"offset"}),
}
"""The fragments of ``paging.sql`` the store's ``fetch_all`` appends, and the parameters each adds."""
PAGING_GROUP = "paging"

_HANDLE_METHODS = frozenset({"execute", "fetch_one", "fetch_all", "fetch_val"})


class Usage(NamedTuple):
    group: str
    query: str
    params: frozenset[frozenset[str]]
    """Every set of parameter names the call can pass (one per way the code gets there)."""
    into: type[msgspec.Struct] | None
    paged: bool
    """``fetch_all`` with ``limit=``/``offset=``: the query also runs with a paging fragment."""
    path: Path
    line: int
    operation: str
    """``<module>.<function>`` that makes the call."""


class UpdateUsage(NamedTuple):
    """A call that runs an UPDATE built at run time, in the context of one operation."""

    update: UpdateRef
    built_at: Path
    """The file of the ``update_sql`` call (its line is ``update.line``)."""
    params: frozenset[frozenset[str]]
    path: Path
    line: int
    operation: str


class Unresolved(NamedTuple):
    path: Path
    line: int
    operation: str
    what: str


class CodeIndex(NamedTuple):
    usages: list[Usage]
    unresolved: list[Unresolved]
    operations: dict[str, frozenset[tuple[str, str]]]
    """Each public coroutine and the named queries it runs, directly or through helpers."""
    modules: list[str]
    updates: list[UpdateUsage]


def store_modules() -> list[ModuleType]:
    """The modules of ``rawdb.store`` that hold query handles."""
    import rawdb.store

    found = []
    for info in sorted(pkgutil.iter_modules(rawdb.store.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"rawdb.store.{info.name}")
        if any(_classify(value) for value in vars(module).values()) or any(
            isinstance(value, dict) and any(_classify(v) for v in value.values()) for value in vars(module).values()
        ):
            found.append(module)
    return found


def _classify(obj: object) -> Value | None:
    from rawdb.store._common import Columns, QuerySet

    if isinstance(obj, QuerySet):
        return frozenset({QuerySetRef(obj.file)})
    if isinstance(obj, Columns):
        return frozenset({ColumnsRef(obj)})
    return None


def analyze_modules(modules: Iterable[ModuleType], known_queries: Iterable[tuple[str, str]]) -> CodeIndex:
    known = frozenset(known_queries)
    index = CodeIndex([], [], {}, [], [])
    for module in modules:
        _ModuleAnalysis(module, known, index).run()
        index.modules.append(module.__name__)
    return index


class _ModuleAnalysis:
    def __init__(self, module: ModuleType, known: frozenset[tuple[str, str]], index: CodeIndex) -> None:
        self.module = module
        self.index = index
        try:
            self.path = Path(inspect.getfile(module))
            source = inspect.getsource(module)
        except (OSError, TypeError) as exc:
            raise CannotCheck(f"cannot read the source of {module.__name__}: {exc}") from exc
        tree = ast.parse(source, str(self.path))
        self.ctx = ModuleContext(module, tree, _classify, known)
        self.short = module.__name__.rsplit(".", 1)[-1]
        self.direct: dict[str, set[tuple[str, str]]] = {}

    def run(self) -> None:
        functions = _functions(self.ctx.tree)
        for qualified, node in functions.items():
            self.direct[qualified] = set()
            Walker(self.ctx, self._visitor(qualified)).run(node.body, parameters(node))
        # Operations are the public coroutines: each takes a transaction and runs SQL.
        public = getattr(self.module, "__all__", None)
        names = [
            n for n, node in functions.items()
            if isinstance(node, ast.AsyncFunctionDef) and (n in public if public is not None else not n.startswith("_"))
        ]
        calls = {name: _called(node, set(functions)) for name, node in functions.items()}
        for name in names:
            reached: set[tuple[str, str]] = set()
            seen: set[str] = set()
            todo = [name]
            while todo:
                current = todo.pop()
                if current in seen:
                    continue
                seen.add(current)
                reached |= self.direct.get(current, set())
                todo.extend(calls.get(current, ()))
            self.index.operations[f"{self.short}.{name}"] = frozenset(reached)
        for name in names:
            node = functions[name]
            Walker(self.ctx, _UpdateSite(self, name), follow=True).run(node.body, parameters(node))

    def _visitor(self, qualified: str) -> _CallSite:
        return _CallSite(self, qualified)

    def record(self, call: ast.Call, operation: str, groups: Sequence[str], names: Value, params: Value | None,
               into_node: ast.expr | None, env: Env, walker: Walker, *, paged: bool, many: bool) -> None:
        where = (self.path, call.lineno, f"{self.short}.{operation}")
        if not only(names, Str):
            self.index.unresolved.append(Unresolved(*where, "which named query it runs"))
            return
        alternatives = self._parameters(params, many=many)
        if alternatives is None:
            self.index.unresolved.append(Unresolved(*where, "which parameters it passes"))
            return
        into = None
        if into_node is not None:
            into = self._struct(into_node, env)
            if into is None:
                self.index.unresolved.append(
                    Unresolved(*where, f"which Struct {ast.unparse(into_node)!r} is"))
                return
        for group in groups:
            for name in sorted(s.text for s in names if isinstance(s, Str)):
                self.direct[operation].add((group, name))
                self.index.usages.append(Usage(group, name, alternatives, into, paged, *where))

    def record_update(self, call: ast.Call, operation: str, built: Value, params: Value | None) -> None:
        where = (self.path, call.lineno, f"{self.short}.{operation}")
        if not only(built, UpdateRef):
            self.note_unresolved(Unresolved(*where, "which UPDATE it runs"))
            return
        alternatives = self._parameters(params, many=False)
        if alternatives is None:
            self.note_unresolved(Unresolved(*where, "which parameters its UPDATE gets"))
            return
        for ref in sorted((s for s in built if isinstance(s, UpdateRef)), key=lambda r: (r.key, sorted(r.columns))):
            usage = UpdateUsage(ref, _module_path(ref.module), alternatives, *where)
            if usage not in self.index.updates:  # a helper reached twice from one operation
                self.index.updates.append(usage)

    def note_unresolved(self, unresolved: Unresolved) -> None:
        if unresolved not in self.index.unresolved:
            self.index.unresolved.append(unresolved)

    @staticmethod
    def _parameters(params: Value | None, *, many: bool) -> frozenset[frozenset[str]] | None:
        if params is None:
            return frozenset({frozenset()})
        if many:
            if not only(params, Seq):
                return None
            params = frozenset().union(*(s.item for s in params if isinstance(s, Seq)))
        if not only(params, Keys):
            return None
        return frozenset(s.names for s in params if isinstance(s, Keys))

    def _struct(self, node: ast.expr, env: Env) -> type[msgspec.Struct] | None:
        if isinstance(node, ast.Name) and node.id in env:
            return None
        target: object = self.module
        for part in _dotted(node):
            target = getattr(target, part, None)
            if target is None:
                return None
        if isinstance(target, type) and issubclass(target, msgspec.Struct):
            return target
        return None


class _CallSite:
    """Recognises the calls that run a named query, as the walker meets them."""

    def __init__(self, analysis: _ModuleAnalysis, operation: str) -> None:
        self.analysis = analysis
        self.operation = operation

    def __call__(self, call: ast.Call, env: Env, walker: Walker) -> None:
        func = call.func
        scratch = dict(env)  # evaluating arguments must not disturb the walker's variables
        if isinstance(func, ast.Attribute) and func.attr in _HANDLE_METHODS:
            receiver = walker.expr(func.value, scratch)
            if only(receiver, QuerySetRef):
                self._handle_call(call, func.attr, receiver, scratch, walker)
                return
        for i, arg in enumerate(call.args):
            refs = [s for s in walker.expr(arg, scratch) if isinstance(s, SqlRef)]
            if not refs:
                continue
            params_node = call.args[i + 1] if len(call.args) > i + 1 else _keyword(call, "params", "seq_of_params")
            params = walker.expr(params_node, scratch) if params_node is not None else None
            many = isinstance(func, ast.Attribute) and func.attr == "executemany"
            for group in sorted({r.group for r in refs}):
                names: Value = frozenset(Str(r.name) for r in refs if r.group == group)
                self.analysis.record(call, self.operation, [group], names, params, _keyword(call, "into"),
                                     scratch, walker, paged=False, many=many)
            return

    def _handle_call(self, call: ast.Call, method: str, receiver: Value, env: Env, walker: Walker) -> None:
        args = call.args
        name_node = args[1] if len(args) > 1 else _keyword(call, "name")
        params_node = args[2] if len(args) > 2 else _keyword(call, "params")
        into_node = args[3] if len(args) > 3 else _keyword(call, "into")
        names = walker.expr(name_node, env) if name_node is not None else UNKNOWN
        params = walker.expr(params_node, env) if params_node is not None else None
        paged = method == "fetch_all" and any(
            k.arg in ("limit", "offset") and not (isinstance(k.value, ast.Constant) and k.value.value is None)
            for k in call.keywords
        )
        groups = sorted(s.group for s in receiver if isinstance(s, QuerySetRef))
        self.analysis.record(call, self.operation, groups, names, params, into_node, env, walker,
                             paged=paged, many=False)


class _UpdateSite:
    """Recognises the calls that run an UPDATE built by ``update_sql``, and builds that cannot be told."""

    def __init__(self, analysis: _ModuleAnalysis, operation: str) -> None:
        self.analysis = analysis
        self.operation = operation

    def __call__(self, call: ast.Call, env: Env, walker: Walker) -> None:
        scratch = dict(env)  # evaluating arguments must not disturb the walker's variables
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "update_sql":
            if only(walker.expr(func.value, scratch), ColumnsRef) and not only(walker.expr(call, scratch), UpdateRef):
                where = (self.analysis.path, call.lineno, f"{self.analysis.short}.{self.operation}")
                self.analysis.note_unresolved(Unresolved(*where, "which key and columns its UPDATE has: pass "
                                                     "a literal key and a dict bound from an allow-list"))
            return
        for i, arg in enumerate(call.args):
            built = walker.expr(arg, scratch)
            if not any(isinstance(s, UpdateRef) for s in built):
                continue
            params_node = call.args[i + 1] if len(call.args) > i + 1 else _keyword(call, "params")
            params = walker.expr(params_node, scratch) if params_node is not None else None
            self.analysis.record_update(call, self.operation, built, params)
            return


def _module_path(name: str) -> Path:
    return Path(inspect.getfile(sys.modules[name]))


def _keyword(call: ast.Call, *names: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg in names:
            return keyword.value
    return None


def _dotted(node: ast.expr) -> list[str]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return list(reversed(parts))


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Module functions by name, and class methods as ``Class.method``."""
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found[f"{node.name}.{item.name}"] = item
    return found


def _called(node: ast.AST, functions: set[str]) -> set[str]:
    """Module functions a function refers to by name (called, or handed to a helper that calls them)."""
    return {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name) and sub.id in functions}
