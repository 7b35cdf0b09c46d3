"""The values of a formula: SymPy scalars, or explicit matrices of them combined as NumPy combines arrays.

A layer-level answer (``(1 - y1**2)*(W2.T @ delta2)``) is built entry by entry: every
vector and matrix is an ImmutableMatrix of the network's scalar symbols, ``*`` and ``+``
work entry by entry (a number, or a 1 x 1 matrix, stretches to the other shape), ``@`` is
the matrix product.
A scalar formula never meets a matrix and is built exactly as before.
"""
from __future__ import annotations

from collections.abc import Callable

import sympy as sp

Value = sp.Expr | sp.ImmutableMatrix
MAX_PRODUCT_TERMS = 1_000_000     # rows x inner x columns of one matrix product


class ShapeError(ValueError):
    """Two operands whose shapes do not combine; the message names both shapes."""


def is_matrix(x) -> bool:
    return isinstance(x, sp.MatrixBase)


def shape_text(x) -> str:
    """(3, 1) for a matrix, "a number" for a scalar."""
    return f"({x.rows}, {x.cols})" if is_matrix(x) else "a number"


def _broadcast(a: Value, b: Value, op: str) -> tuple[int, int]:
    """The shape of an entrywise result: equal shapes, or a number (or a 1 x 1 matrix) stretched.

    Stricter than NumPy: a row and a column never stretch into a matrix (y1 + y1.T is a slip).
    """
    sa, sb = (a.shape if is_matrix(a) else (1, 1)), (b.shape if is_matrix(b) else (1, 1))
    if sa == sb or sb == (1, 1):
        return sa
    if sa == (1, 1):
        return sb
    raise ShapeError(f"shapes {shape_text(a)} and {shape_text(b)} do not combine with '{op}'")


def _entry(x: Value, i: int, j: int) -> sp.Expr:
    if not is_matrix(x):
        return x
    return x[i if x.rows > 1 else 0, j if x.cols > 1 else 0]


def elementwise(f: Callable[[sp.Expr, sp.Expr], sp.Expr], a: Value, b: Value, op: str) -> Value:
    """f entry by entry, broadcasting numbers and dimensions of size 1."""
    if not (is_matrix(a) or is_matrix(b)):
        return f(a, b)
    rows, cols = _broadcast(a, b, op)
    return sp.ImmutableMatrix(rows, cols, [f(_entry(a, i, j), _entry(b, i, j))
                                           for i in range(rows) for j in range(cols)])


def add(a: Value, b: Value) -> Value:
    return elementwise(sp.Add, a, b, "+")


def neg(a: Value) -> Value:
    return a.applyfunc(lambda e: sp.Mul(sp.Integer(-1), e)) if is_matrix(a) else sp.Mul(sp.Integer(-1), a)


def sub(a: Value, b: Value) -> Value:
    return elementwise(lambda x, y: sp.Add(x, sp.Mul(sp.Integer(-1), y)), a, b, "-")


def hadamard(a: Value, b: Value, op: str = "*") -> Value:
    """The elementwise product (NumPy's ``*``); a number times anything scales it."""
    return elementwise(sp.Mul, a, b, op)


def divide(a: Value, b: Value) -> Value:
    return elementwise(lambda x, y: sp.Mul(x, sp.Pow(y, sp.Integer(-1))), a, b, "/")


def matmul(a: Value, b: Value, op: str = "@") -> Value:
    """The matrix product; both operands must be matrices whose inner dimensions agree.

    ``op`` names the operator in messages ("" for matrices written side by side).
    """
    if not (is_matrix(a) and is_matrix(b)):
        raise ShapeError(f"'{op}' multiplies matrices, not {shape_text(a)} and {shape_text(b)}; "
                         "use * for a number")
    if a.cols != b.rows:
        hint = " (is a transpose missing?)" if a.rows == b.rows or a.cols == b.cols else ""
        how = f" with '{op}'" if op else " as matrices"
        raise ShapeError(f"shapes {shape_text(a)} and {shape_text(b)} do not multiply{how}{hint}")
    if a.rows * a.cols * b.cols > MAX_PRODUCT_TERMS:
        raise ShapeError(f"the product of {shape_text(a)} and {shape_text(b)} has more than "
                         f"{MAX_PRODUCT_TERMS} terms: too large to check entry by entry")
    return sp.ImmutableMatrix(a * b)


def product(a: Value, b: Value, op: str = "") -> Value:
    """Written mathematics: two matrices side by side (or joined by op) multiply as matrices, else scale."""
    return matmul(a, b, op) if is_matrix(a) and is_matrix(b) else hadamard(a, b, op or "*")


def power(a: Value, exponent: sp.Expr) -> Value:
    """A power of each entry (NumPy's ``**``)."""
    return a.applyfunc(lambda e: sp.Pow(e, exponent)) if is_matrix(a) else sp.Pow(a, exponent)


def transpose(a: Value) -> Value:
    if not is_matrix(a):
        raise ShapeError("a transpose needs a matrix or a vector, not a number")
    return sp.ImmutableMatrix(a.T)


def sum_axis(a: Value, axis: int) -> Value:
    """NumPy's ``a.sum(axis=...)`` of a matrix: axis 1 adds along each row (a column is left, as a batch's
    bias gradient sums its samples), axis 0 down each column (a row is left)."""
    if not is_matrix(a):
        raise ShapeError("a sum over an axis needs a matrix or a vector, not a number")
    if axis == 1:
        return sp.ImmutableMatrix(a.rows, 1, [sp.Add(*a.row(i)) for i in range(a.rows)])
    return sp.ImmutableMatrix(1, a.cols, [sp.Add(*a.col(j)) for j in range(a.cols)])


def apply(f: Callable[[sp.Expr], sp.Expr], a: Value) -> Value:
    """A function of one argument, applied to each entry of a matrix."""
    return a.applyfunc(f) if is_matrix(a) else f(a)


def entries(x: Value) -> list[sp.Expr]:
    """The entries row by row (a scalar is its own single entry)."""
    return list(x) if is_matrix(x) else [x]


def tree_size(x: Value, limit: int) -> int:
    """The leaves of the entries written out as trees (a shared subtree counts each time it occurs).

    Matrix products share subtrees: W2@W2@...@W2 is small in memory but exponential once walked,
    as the checks walk it. Counted without recursion, each distinct subtree once; stops past ``limit``.
    """
    sizes: dict = {}
    total = 0
    for root in entries(x):
        stack = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if node in sizes:
                continue
            if not node.args:
                sizes[node] = 1
            elif ready:
                sizes[node] = min(sum(sizes[a] for a in node.args), limit + 1)
            else:
                stack.append((node, True))
                stack.extend((a, False) for a in node.args if a not in sizes)
        total += sizes[root]
        if total > limit:
            break
    return total


# -- a matrix answer whose shapes do not fit: the reading a common slip would give ------------------

def repaired_product(kind: str, a: Value, b: Value, op: str, repairs: list | None) -> Value:
    """``a op b`` (kind "hadamard", "matmul" or "product", as written); where the shapes do not fit
    and ``repairs`` is a list, the first reading that fits is taken and noted in it as (mistake,
    sentence): the other product (``hadamard_vs_matrix_product``), or the other order (``wrong_order``)."""
    first = {"hadamard": hadamard, "matmul": matmul, "product": product}[kind]
    try:
        return first(a, b, op)
    except ShapeError:
        if repairs is None or not (is_matrix(a) and is_matrix(b)):
            raise
    shown = op or "side by side"
    readings = ([(lambda: matmul(a, b), "hadamard_vs_matrix_product",
                  f"'{shown}' multiplies entry by entry, where the rule has a matrix product")]
                if kind == "hadamard" else
                [(lambda: hadamard(a, b), "hadamard_vs_matrix_product",
                  f"a matrix product ({shown}) where the rule multiplies entry by entry (an elementwise product)"),
                 (lambda: matmul(b, a), "wrong_order",
                  f"the factors of a matrix product ({shown}) are in the wrong order: it does not commute")])
    for make, mistake, why in readings:
        try:
            value = make()
        except ShapeError:
            continue
        repairs.append((mistake, why))
        return value
    raise ShapeError(f"shapes {shape_text(a)} and {shape_text(b)} do not combine with '{shown}'")
