"""NumPy's functions that the language writes with its own operations, one template each, and
NumPy's module prefixes, so that a loss copied from NumPy code runs unchanged.

A template is an expression of the language in the placeholders ``a`` and ``b`` (the call's
arguments, in order): ``exp2(x)`` is ``2 ** x``, ``deg2rad(x)`` is ``x * (pi / 180)``. It is a
rewrite of the syntax tree before the language checks it (:func:`expand`), so a templated function
is exactly the operations it stands for in every backend, with their derivatives, kinks and
domains, and nothing is kept twice. An error inside the expansion points at the call as written.

A function called through a module, ``np.sum(x)``, ``numpy.linalg.det(A)``, ``jnp.exp(x)`` or
``scipy.special.erfinv(x)``, is the language's function of that name (:data:`MODULES`), and
NumPy's array methods are its functions of the array: ``x.sum(axis=0)`` is ``sum(x, axis=0)``,
``x.reshape(2, 3)`` is ``reshape(x, (2, 3))``, ``x.flatten()`` is ``ravel(x)`` (:data:`METHODS`).
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable

from ..errors import ExpressionError

#: Builds the error for a node: the expression's :meth:`~diffcmp.lang.parse.Expression.error`.
Fail = Callable[[str, ast.AST], ExpressionError]

#: Function name -> its template in the placeholders ``a`` (first argument) and ``b`` (second).
TEMPLATES: dict[str, str] = {
    "exp2": "2 ** a",
    "logaddexp2": "logaddexp(a * log(2), b * log(2)) / log(2)",
    "deg2rad": "a * (pi / 180)",
    "radians": "a * (pi / 180)",
    "rad2deg": "a * (180 / pi)",
    "degrees": "a * (180 / pi)",
    "negative": "-a",
    "positive": "+a",
    "add": "a + b",
    "subtract": "a - b",
    "multiply": "a * b",
    "divide": "a / b",
    "true_divide": "a / b",
    "matmul": "a @ b",
    "ravel": "reshape(a, (-1,))",
    "array": "a",
    "asarray": "a",
    "append": "concatenate([ravel(a), ravel(b)])",
    "fabs": "abs(a)",
    "fmax": "max(a, b)",
    "fmin": "min(a, b)",
    "rsqrt": "1 / sqrt(a)",
    "logistic": "sigmoid(a)",
    "expit": "sigmoid(a)",
    "log_sigmoid": "-softplus(-a)",
}

#: Module names a call may go through: ``np.exp``, ``numpy.linalg.inv``, ``jnp.sum``...
MODULES = frozenset({"np", "numpy", "jnp", "jax", "linalg", "special", "scipy", "lax", "math"})

#: NumPy's array methods: method name -> the language's function taking the array first.
METHODS = {name: name for name in (
    "sum", "mean", "prod", "max", "min", "std", "var", "cumsum", "cumprod", "reshape", "ravel",
    "squeeze", "transpose", "dot", "clip", "trace", "repeat", "swapaxes")}
METHODS |= {"flatten": "ravel", "diagonal": "diag"}
#: Methods whose several positional arguments are one tuple: ``x.reshape(2, 3)``.
_TUPLE_METHODS = frozenset({"reshape", "transpose"})

_PLACEHOLDERS = ("a", "b")
_TREES = {name: ast.parse(text, mode="eval").body for name, text in TEMPLATES.items()}
_ARITY = {name: len({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
                    & set(_PLACEHOLDERS)) for name, tree in _TREES.items()}


def module_function(func: ast.expr) -> str | None:
    """The function name of ``np.linalg.det`` (a chain of :data:`MODULES` ending in a name), or
    ``None`` when ``func`` is not such a chain."""
    if not isinstance(func, ast.Attribute):
        return None
    value = func.value
    while isinstance(value, ast.Attribute):
        if value.attr not in MODULES:
            return None
        value = value.value
    return func.attr if isinstance(value, ast.Name) and value.id in MODULES else None


def expand(tree: ast.expr, fail: Fail) -> ast.expr:
    """``tree`` with module prefixes dropped and every templated call replaced by its template.

    ``fail(message, node)`` builds the error for a templated call with the wrong arguments (the
    caller's :meth:`~diffcmp.lang.parse.Expression.error`). The walk is iterative, so a tree as
    deep as the parser accepts is never a recursion error.
    """
    root = ast.Expression(body=tree)
    stack: list[ast.AST] = [root]
    while stack:
        node = stack.pop()
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                for k, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        value[k] = _rewrite(item, fail)
                        stack.append(value[k])
            elif isinstance(value, ast.AST):
                new = _rewrite(value, fail)
                setattr(node, field, new)
                stack.append(new)
    return root.body


def _rewrite(node: ast.AST, fail: Fail) -> ast.AST:
    """``node`` itself, or the expansion of a call through a module or of a template."""
    while isinstance(node, ast.Call):
        name = module_function(node.func)
        if name is not None:
            node.func = ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node.func)
        elif isinstance(node.func, ast.Attribute) and node.func.attr in METHODS:
            node = _method(node, node.func)
        if not isinstance(node.func, ast.Name) or node.func.id not in _TREES:
            return node
        node = _instantiate(node, node.func.id, fail)
    return node


def _method(call: ast.Call, func: ast.Attribute) -> ast.Call:
    """``x.name(args)`` as the language's ``name(x, args)``."""
    args = list(call.args)
    if func.attr in _TUPLE_METHODS and len(args) > 1:
        args = [ast.copy_location(ast.Tuple(elts=args, ctx=ast.Load()), args[0])]
    name = ast.copy_location(ast.Name(id=METHODS[func.attr], ctx=ast.Load()), func)
    return ast.copy_location(ast.Call(func=name, args=[func.value, *args],
                                      keywords=call.keywords), call)


def _instantiate(call: ast.Call, name: str, fail: Fail) -> ast.AST:
    """The template of ``name`` with the call's arguments for its placeholders, every new node
    located at the call."""
    arity = _ARITY[name]
    if call.keywords:
        raise fail(f"{name}() takes no keyword arguments", call)
    if len(call.args) != arity or any(isinstance(a, ast.Starred) for a in call.args):
        plural = "" if arity == 1 else "s"
        raise fail(f"{name}() takes {arity} argument{plural}, got {len(call.args)}", call)
    arguments = dict(zip(_PLACEHOLDERS, call.args, strict=False))
    used: set[str] = set()
    body = copy.deepcopy(_TREES[name])
    for node in ast.walk(body):
        ast.copy_location(node, call)
        if hasattr(node, "end_lineno"):
            node.end_lineno, node.end_col_offset = call.end_lineno, call.end_col_offset
    holder = ast.Expression(body=body)
    stack: list[ast.AST] = [holder]
    while stack:
        node = stack.pop()
        for field, value in ast.iter_fields(node):
            items = value if isinstance(value, list) else [value]
            for k, item in enumerate(items):
                if isinstance(item, ast.Name) and item.id in arguments:
                    replacement = arguments[item.id]
                    if item.id in used:  # a second use: its own copy of the argument
                        replacement = copy.deepcopy(replacement)
                    used.add(item.id)
                    if isinstance(value, list):
                        value[k] = replacement
                    else:
                        setattr(node, field, replacement)
                elif isinstance(item, ast.AST):
                    stack.append(item)
    return holder.body
