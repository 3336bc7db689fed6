"""A small abstract interpreter: which dict keys, strings and query handles an expression can hold.

It follows just enough Python to see how code that runs named queries builds
their parameters: dict literals (``**`` merges included), dict comprehensions
over constant tuples, ``d[k] = v``, ``update``/``pop``/``setdefault``, lists
built with ``append``, both arms of every ``if``, tuples returned by a helper
and unpacked by the caller, and calls to helper functions of the same module
(through their ``return`` statements, with the arguments of each call bound
to their parameters) and to functions the module imports from its own package.
Module-level objects are read from the imported module itself, so a query handle
or a constant tuple is what the code really holds. Anything else is `Unknown`,
which callers report rather than guess.

A value is a set of *shapes*, one per way the code can get there: two branches
binding different dicts give a value with two `Keys` shapes.
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeAlias

__all__ = [
    "UNKNOWN",
    "ColumnsRef",
    "Env",
    "Keys",
    "Map",
    "ModuleContext",
    "QuerySetRef",
    "Seq",
    "Shape",
    "SqlRef",
    "Str",
    "Tup",
    "Unknown",
    "UpdateRef",
    "Value",
    "Walker",
    "join",
    "only",
]


@dataclass(frozen=True, slots=True)
class Str:
    text: str


@dataclass(frozen=True, slots=True)
class Keys:
    """A dict whose keys are exactly ``names``."""

    names: frozenset[str]


@dataclass(frozen=True, slots=True)
class Tup:
    items: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Seq:
    """A list (or other iterable) whose items are ``item``."""

    item: Value


@dataclass(frozen=True, slots=True)
class Map:
    """A dict with keys nobody reads, whose values are ``value`` (a table of query handles)."""

    value: Value


@dataclass(frozen=True, slots=True)
class QuerySetRef:
    """A handle that runs the named queries of one file (``group``)."""

    group: str


@dataclass(frozen=True, slots=True)
class ColumnsRef:
    """A column binder (the store's ``Columns``): ``bind(d)`` returns a dict with the keys
    of ``d``, ``pick(updates, allowed)`` the allow-listed keys of ``updates`` (every one of
    them when ``updates`` comes from a caller), ``update_sql(key, d)`` an `UpdateRef`."""

    binder: Any = None


@dataclass(frozen=True, slots=True)
class UpdateRef:
    """The UPDATE ``binder.update_sql(key, columns)`` builds at run time, and where it is built."""

    binder: Any
    key: str
    columns: frozenset[str]
    module: str
    line: int


@dataclass(frozen=True, slots=True)
class SqlRef:
    """The SQL text of the named query ``group.name``."""

    group: str
    name: str


@dataclass(frozen=True, slots=True)
class Unknown:
    pass


Shape: TypeAlias = Str | Keys | Tup | Seq | Map | QuerySetRef | ColumnsRef | UpdateRef | SqlRef | Unknown
Value: TypeAlias = frozenset[Shape]
Env: TypeAlias = dict[str, Value]

UNKNOWN: Value = frozenset({Unknown()})
_LIMIT = 64  # alternatives kept per value; past that the value is Unknown


def join(*values: Value) -> Value:
    merged: set[Shape] = set()
    for value in values:
        merged.update(value)
    return UNKNOWN if len(merged) > _LIMIT else frozenset(merged)


def only(value: Value, kind: type[Shape]) -> bool:
    """True when every way to get here gives a ``kind`` (and there is at least one)."""
    return bool(value) and all(isinstance(shape, kind) for shape in value)


Classifier = Callable[[object], Value | None]


class ModuleContext:
    """One imported module: its functions' syntax, and its globals as abstract values."""

    def __init__(self, module: ModuleType, tree: ast.Module, classify: Classifier,
                 known_queries: frozenset[tuple[str, str]],
                 peers: dict[str, ModuleContext | None] | None = None) -> None:
        self.module = module
        self.tree = tree
        self.classify = classify
        self.known_queries = known_queries
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {
            node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        self.peers: dict[str, ModuleContext | None] = {} if peers is None else peers
        """By module name: this context, and those of the modules of its package that calls were
        followed into (None for one whose source cannot be read). Shared among them."""
        self.peers[module.__name__] = self
        self._returns: dict[tuple[str, tuple[tuple[str, Value], ...]], Value] = {}
        self._busy: set[tuple[str, tuple[tuple[str, Value], ...]]] = set()

    def global_value(self, name: str) -> Value:
        if not hasattr(self.module, name):
            return UNKNOWN
        return self.runtime_value(getattr(self.module, name), nested=True)

    def runtime_value(self, obj: object, *, nested: bool) -> Value:
        known = self.classify(obj)
        if known is not None:
            return known
        if isinstance(obj, str):
            return frozenset({Str(obj)})
        if isinstance(obj, (tuple, list, frozenset, set)) and all(isinstance(x, str) for x in obj):
            items = sorted(obj) if isinstance(obj, (set, frozenset)) else list(obj)
            return frozenset({Tup(tuple(frozenset({Str(x)}) for x in items))})
        if isinstance(obj, dict) and nested and obj:
            values = [self.runtime_value(v, nested=False) for v in obj.values()]
            return frozenset({Map(join(*values))})
        return UNKNOWN

    def returns(self, name: str, bound: Env | None = None) -> Value:
        """What a call to the module function ``name`` can return (its ``return`` expressions),
        its parameters holding ``bound`` (see `bind_arguments`; Unknown when not given)."""
        node = self.functions[name]
        env = parameters(node) if bound is None else bound
        key = (name, tuple(sorted(env.items(), key=lambda item: item[0])))
        if key in self._returns:
            return self._returns[key]
        if key in self._busy:  # recursion: give up on this path rather than loop
            return UNKNOWN
        self._busy.add(key)
        try:
            _, returned = Walker(self).run(node.body, env)
            value = join(*returned) if returned else UNKNOWN
        finally:
            self._busy.discard(key)
        self._returns[key] = value
        return value

    def imported(self, name: str) -> tuple[ModuleContext, str] | None:
        """The context and name of a function this module imports from its own package.

        Store modules share helpers (``crypto.bind_profile_updates`` builds the SET
        columns of two profile tables), so what they return is followed too; code
        outside the package (libraries, the standard library) is not.
        """
        target = getattr(self.module, name, None)
        if not inspect.isfunction(target):
            return None
        home = target.__module__
        if home == self.module.__name__ or home.split(".")[0] != self.module.__name__.split(".")[0]:
            return None
        if home not in self.peers:
            self.peers[home] = None  # until parsed: a module that cannot be read stays None
            module = sys.modules.get(home)
            if module is not None:
                try:
                    tree = ast.parse(inspect.getsource(module))
                except (OSError, TypeError, SyntaxError):
                    return None
                ModuleContext(module, tree, self.classify, self.known_queries, self.peers)
        peer = self.peers[home]
        if peer is None or target.__name__ not in peer.functions:
            return None
        return peer, target.__name__


def bind_arguments(node: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call,
                   args: list[Value], kwargs: dict[str, Value]) -> Env:
    """The parameters of ``node`` as a call passes them (evaluated ``args``/``kwargs``);
    parameters the call does not reach (a ``*args`` spread, defaults) are Unknown."""
    env = parameters(node)
    positional = [p.arg for p in (*node.args.posonlyargs, *node.args.args)]
    for i, (arg, value) in enumerate(zip(call.args, args, strict=True)):
        if isinstance(arg, ast.Starred) or i >= len(positional):
            break
        env[positional[i]] = value
    for name, value in kwargs.items():
        if name in env:
            env[name] = value
    return env


def parameters(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> Env:
    """Every parameter is Unknown, and shadows a global of the same name."""
    a = node.args
    names = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    names += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
    return dict.fromkeys(names, UNKNOWN)


CallVisitor = Callable[[ast.Call, Env, "Walker"], None]


class Walker:
    """Runs statements abstractly; ``on_call`` sees every call with the variables before it.

    With ``follow``, ``on_call`` also sees the calls inside the module's own functions
    that the walked code calls, with their parameters bound to that call's arguments:
    a helper that takes the key column from its caller is seen once per caller.
    """

    def __init__(self, ctx: ModuleContext, on_call: CallVisitor | None = None, *, follow: bool = False,
                 inside: frozenset[str] = frozenset()) -> None:
        self.ctx = ctx
        self.on_call = on_call
        self.follow = follow
        self.inside = inside

    # -- statements ----------------------------------------------------------------
    def run(self, body: list[ast.stmt], env: Env) -> tuple[Env, list[Value]]:
        returned: list[Value] = []
        for node in body:
            env = self.statement(node, env, returned)
        return env, returned

    def statement(self, node: ast.stmt, env: Env, returned: list[Value]) -> Env:
        if self.on_call is not None:
            for call in _own_calls(node):
                self.on_call(call, env, self)
                if self.follow:
                    self.enter(call, env)
        if isinstance(node, ast.Assign):
            value = self.expr(node.value, env)
            for target in node.targets:
                self.bind(target, value, env)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self.bind(node.target, self.expr(node.value, env), env)
        elif isinstance(node, ast.AugAssign):
            if isinstance(node.target, ast.Name):
                env[node.target.id] = UNKNOWN
        elif isinstance(node, ast.Expr):
            self.expr(node.value, env)
        elif isinstance(node, ast.Return):
            returned.append(self.expr(node.value, env) if node.value is not None else UNKNOWN)
        elif isinstance(node, ast.If):
            self.expr(node.test, env)
            env = self.branches(env, returned, node.body, node.orelse)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            inner = dict(env)
            self.bind(node.target, _element(self.expr(node.iter, env)), inner)
            looped, more = self.run(node.body, inner)
            returned.extend(more)
            env = merge(env, [env, looped])
            env = self.branches(env, returned, node.orelse, [])
        elif isinstance(node, ast.While):
            env = self.branches(env, returned, node.body, node.orelse)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self.expr(item.context_expr, env)
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, UNKNOWN, env)
            env, more = self.run(node.body, env)
            returned.extend(more)
        elif isinstance(node, (ast.Try, ast.TryStar)):
            tried, more = self.run(node.body, dict(env))
            returned.extend(more)
            outcomes = [tried]
            for handler in node.handlers:
                inner = dict(tried)
                if handler.name:
                    inner[handler.name] = UNKNOWN
                handled, more = self.run(handler.body, inner)
                returned.extend(more)
                outcomes.append(handled)
            if node.orelse:
                outcomes[0], more = self.run(node.orelse, dict(tried))
                returned.extend(more)
            env, more = self.run(node.finalbody, merge(env, outcomes))
            returned.extend(more)
        elif isinstance(node, ast.Match):
            outcomes = []
            for case in node.cases:
                done, more = self.run(case.body, dict(env))
                returned.extend(more)
                outcomes.append(done)
            env = merge(env, [env, *outcomes])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # A nested function sees the enclosing variables as they are where it is defined.
            self.run(node.body, {**env, **parameters(node)})
            env[node.name] = UNKNOWN
        return env

    def enter(self, call: ast.Call, env: Env) -> None:
        """Walk the module function ``call`` calls (not one already being walked) with its arguments."""
        func = call.func
        if not isinstance(func, ast.Name) or func.id in env or func.id not in self.ctx.functions:
            return
        if func.id in self.inside:
            return
        scratch = dict(env)  # the caller's variables stay as the statement leaves them
        args, kwargs = self.arguments(call, scratch)
        node = self.ctx.functions[func.id]
        walker = Walker(self.ctx, self.on_call, follow=True, inside=self.inside | {func.id})
        walker.run(node.body, bind_arguments(node, call, args, kwargs))

    def arguments(self, call: ast.Call, env: Env) -> tuple[list[Value], dict[str, Value]]:
        args = [self.expr(arg, env) for arg in call.args]
        kwargs: dict[str, Value] = {}
        for keyword in call.keywords:
            value = self.expr(keyword.value, env)
            if keyword.arg is not None:
                kwargs[keyword.arg] = value
        return args, kwargs

    def branches(self, env: Env, returned: list[Value], *bodies: list[ast.stmt]) -> Env:
        outcomes = []
        for body in bodies:
            done, more = self.run(body, dict(env))
            returned.extend(more)
            outcomes.append(done)
        return merge(env, outcomes)

    def bind(self, target: ast.expr, value: Value, env: Env) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            width = len(target.elts)
            for i, element in enumerate(target.elts):
                parts = [
                    shape.items[i] if isinstance(shape, Tup) and len(shape.items) == width else UNKNOWN
                    for shape in value
                ]
                self.bind(element, join(*parts) if parts else UNKNOWN, env)
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            key = self.expr(target.slice, env)
            name = target.value.id
            if name in env:
                env[name] = _with_keys(env[name], key)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, UNKNOWN, env)

    # -- expressions ---------------------------------------------------------------
    def expr(self, node: ast.expr, env: Env) -> Value:
        if isinstance(node, ast.Constant):
            return frozenset({Str(node.value)}) if isinstance(node.value, str) else UNKNOWN
        if isinstance(node, ast.Name):
            return env[node.id] if node.id in env else self.ctx.global_value(node.id)
        if isinstance(node, ast.Await):
            return self.expr(node.value, env)
        if isinstance(node, ast.IfExp):
            self.expr(node.test, env)
            return join(self.expr(node.body, env), self.expr(node.orelse, env))
        if isinstance(node, ast.Tuple):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                return UNKNOWN
            return frozenset({Tup(tuple(self.expr(e, env) for e in node.elts))})
        if isinstance(node, ast.List):
            items = [self.expr(e, env) for e in node.elts if not isinstance(e, ast.Starred)]
            return frozenset({Seq(join(*items) if items else frozenset())})
        if isinstance(node, ast.Dict):
            return self.dict_literal(node, env)
        if isinstance(node, ast.DictComp):
            return self.dict_comprehension(node, env)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, env)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.Call):
            return self.call(node, env)
        return UNKNOWN

    def dict_literal(self, node: ast.Dict, env: Env) -> Value:
        alternatives: set[frozenset[str]] = {frozenset()}
        for key, item in zip(node.keys, node.values, strict=True):
            if key is None:  # {**other}
                merged = self.expr(item, env)
                if not only(merged, Keys):
                    return UNKNOWN
                alternatives = {a | s.names for a in alternatives for s in merged if isinstance(s, Keys)}
            else:
                self.expr(item, env)
                names = self.expr(key, env)
                if not only(names, Str):
                    return UNKNOWN
                alternatives = {a | {s.text} for a in alternatives for s in names if isinstance(s, Str)}
            if len(alternatives) > _LIMIT:
                return UNKNOWN
        return frozenset(Keys(a) for a in alternatives)

    def dict_comprehension(self, node: ast.DictComp, env: Env) -> Value:
        if len(node.generators) != 1:
            return UNKNOWN
        generator = node.generators[0]
        if (generator.ifs or not isinstance(generator.target, ast.Name) or not isinstance(node.key, ast.Name)
                or node.key.id != generator.target.id):
            return UNKNOWN
        source = self.expr(generator.iter, env)
        shapes: set[Shape] = set()
        for shape in source:
            items = shape.items if isinstance(shape, Tup) else (shape.item,) if isinstance(shape, Seq) else None
            if items is None or not all(only(item, Str) for item in items):
                return UNKNOWN
            shapes.add(Keys(frozenset(s.text for item in items for s in item if isinstance(s, Str))))
        return frozenset(shapes) if shapes else UNKNOWN

    def subscript(self, node: ast.Subscript, env: Env) -> Value:
        base = self.expr(node.value, env)
        self.expr(node.slice, env)
        parts: list[Value] = []
        for shape in base:
            if isinstance(shape, Map):
                parts.append(shape.value)
            elif (isinstance(shape, Tup) and isinstance(node.slice, ast.Constant)
                  and isinstance(node.slice.value, int) and -len(shape.items) <= node.slice.value < len(shape.items)):
                parts.append(shape.items[node.slice.value])
            else:
                parts.append(UNKNOWN)
        return join(*parts) if parts else UNKNOWN

    def attribute(self, node: ast.Attribute) -> Value:
        # queries.<file>.<name>: the SQL text of a named query, however the handle is called.
        if isinstance(node.value, ast.Attribute) and (node.value.attr, node.attr) in self.ctx.known_queries:
            return frozenset({SqlRef(node.value.attr, node.attr)})
        return UNKNOWN

    def call(self, node: ast.Call, env: Env) -> Value:
        # Evaluated once, in order, for the mutations arguments make (d.pop(...) passed along).
        args, kwargs = self.arguments(node, env)
        func = node.func
        if isinstance(func, ast.Name):
            if func.id in env:
                return UNKNOWN
            if func.id == "dict":
                return self.dict_call(node, env)
            if func.id in self.ctx.functions:
                return self.ctx.returns(func.id, bind_arguments(self.ctx.functions[func.id], node, args, kwargs))
            imported = self.ctx.imported(func.id)
            if imported is not None:
                peer, name = imported
                return peer.returns(name, bind_arguments(peer.functions[name], node, args, kwargs))
            return UNKNOWN
        if not isinstance(func, ast.Attribute):
            return UNKNOWN
        receiver = self.expr(func.value, env)
        if isinstance(func.value, ast.Name) and func.value.id in env:
            self.mutate(func.value.id, func.attr, node, env)
        method = func.attr
        if only(receiver, ColumnsRef):
            return self.columns_call(node, method, receiver, args)
        if only(receiver, QuerySetRef):
            if method == "sql" and len(node.args) >= 2:
                names = self.expr(node.args[1], env)
                if only(names, Str):
                    return frozenset(
                        SqlRef(q.group, s.text) for q in receiver for s in names
                        if isinstance(q, QuerySetRef) and isinstance(s, Str)
                    )
            return UNKNOWN
        if method == "copy" and only(receiver, Keys):
            return receiver
        if method in ("items", "values") and only(receiver, Map):
            values = join(*(s.value for s in receiver if isinstance(s, Map)))
            item = values if method == "values" else frozenset({Tup((UNKNOWN, values))})
            return frozenset({Seq(item)})
        return UNKNOWN

    def columns_call(self, node: ast.Call, method: str, receiver: Value, args: list[Value]) -> Value:
        if method == "bind" and args:
            return args[0]
        if method == "pick" and len(args) >= 2:
            allowed = _strings(args[1])
            if allowed is None:
                return UNKNOWN
            if not only(args[0], Keys):  # the caller's dict: at most every allow-listed key
                return frozenset({Keys(allowed)})
            # Keys the allow-list refuses raise before any SQL; the others are picked.
            return frozenset(Keys(s.names & allowed) for s in args[0] if isinstance(s, Keys))
        if method == "update_sql" and len(args) >= 2 and only(args[0], Str) and only(args[1], Keys):
            return frozenset(
                UpdateRef(binder.binder, key.text, columns.names, self.ctx.module.__name__, node.lineno)
                for binder in receiver if isinstance(binder, ColumnsRef)
                for key in args[0] if isinstance(key, Str)
                for columns in args[1] if isinstance(columns, Keys)
            )
        return UNKNOWN

    def dict_call(self, node: ast.Call, env: Env) -> Value:
        value: Value = frozenset({Keys(frozenset())})
        for arg in node.args:
            value = _merge_keys(value, self.expr(arg, env))
        for keyword in node.keywords:
            if keyword.arg is None:
                value = _merge_keys(value, self.expr(keyword.value, env))
            else:
                value = _with_keys(value, frozenset({Str(keyword.arg)}))
        return value

    def mutate(self, name: str, method: str, node: ast.Call, env: Env) -> None:
        current = env[name]
        if method == "update":
            for arg in node.args:
                current = _merge_keys(current, self.expr(arg, env))
            for keyword in node.keywords:
                if keyword.arg is None:
                    current = _merge_keys(current, self.expr(keyword.value, env))
                else:
                    current = _with_keys(current, frozenset({Str(keyword.arg)}))
        elif method == "setdefault" and node.args:
            current = _with_keys(current, self.expr(node.args[0], env))
        elif method == "pop" and node.args:
            key = self.expr(node.args[0], env)
            if not only(key, Str):
                current = UNKNOWN
            else:
                gone = {s.text for s in key if isinstance(s, Str)}
                current = frozenset(Keys(s.names - gone) if isinstance(s, Keys) else s for s in current)
        elif method == "clear":
            current = frozenset({Keys(frozenset())})
        elif method == "append" and node.args:
            item = self.expr(node.args[0], env)
            current = frozenset(Seq(join(s.item, item)) if isinstance(s, Seq) else s for s in current)
        elif method == "extend":
            current = UNKNOWN
        env[name] = current


def merge(before: Env, outcomes: list[Env]) -> Env:
    """Variables after branches: each can hold what any branch left (or what it held before)."""
    merged: Env = {}
    for name in set(before).union(*outcomes):
        parts = [env[name] for env in outcomes if name in env]
        if name in before and len(parts) < len(outcomes):
            parts.append(before[name])
        merged[name] = join(*parts)
    return merged


def _strings(value: Value) -> frozenset[str] | None:
    """The strings of a constant tuple or list (an allow-list), if that is all ``value`` can be."""
    found: set[str] = set()
    for shape in value:
        items = shape.items if isinstance(shape, Tup) else (shape.item,) if isinstance(shape, Seq) else None
        if items is None or not all(only(item, Str) for item in items):
            return None
        found.update(s.text for item in items for s in item if isinstance(s, Str))
    return frozenset(found) if value else None


def _element(iterable: Value) -> Value:
    parts: list[Value] = []
    for shape in iterable:
        if isinstance(shape, Seq):
            parts.append(shape.item)
        elif isinstance(shape, Tup):
            parts.extend(shape.items)
        else:
            parts.append(UNKNOWN)
    return join(*parts) if parts else UNKNOWN


def _with_keys(value: Value, keys: Value) -> Value:
    """``value`` with one more key, which may be any of the strings ``keys`` holds."""
    if not only(keys, Str):
        return UNKNOWN
    merged: set[Shape] = set()
    for shape in value:
        if isinstance(shape, Keys):
            merged.update(Keys(shape.names | {k.text}) for k in keys if isinstance(k, Str))
        else:
            merged.add(shape)
    return UNKNOWN if len(merged) > _LIMIT else frozenset(merged)


def _merge_keys(value: Value, other: Value) -> Value:
    if not only(other, Keys):
        return UNKNOWN
    merged: set[Shape] = set()
    for shape in value:
        if isinstance(shape, Keys):
            merged.update(Keys(shape.names | o.names) for o in other if isinstance(o, Keys))
        else:
            merged.add(shape)
    return UNKNOWN if len(merged) > _LIMIT else frozenset(merged)


def _own_calls(node: ast.stmt) -> Iterator[ast.Call]:
    """Calls in a statement's own expressions (not in the statements it contains)."""
    for field, child in ast.iter_fields(node):
        if field in ("body", "orelse", "finalbody", "handlers", "cases", "decorator_list", "args", "returns"):
            continue
        children = child if isinstance(child, list) else [child]
        for item in children:
            if isinstance(item, ast.withitem):
                item = item.context_expr
            if isinstance(item, ast.expr):
                for sub in ast.walk(item):
                    if isinstance(sub, ast.Call):
                        yield sub
