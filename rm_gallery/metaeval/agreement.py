"""Agreement with the labels: a confusion matrix with ties and errors, Cohen's kappa, and coverage.

Items are ``(label, verdict)``: label A, B or tie; verdict A, B, tie, or None for a judgment with no usable
verdict (parse error, API error, ...), which lands in the ``error`` column.

* coverage = judgments with a verdict / all judgments;
* Cohen's kappa (Cohen 1960) over the judgments with a verdict, classes A, B and tie:
  ``kappa = (p_o - p_e) / (1 - p_e)`` with p_o the observed agreement and p_e the agreement expected from the
  two marginals. It is undefined (None) when p_e = 1: judge and labels both use one and the same single class,
  so there is no disagreement to expect and none to beat.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rm_gallery.types import Winner

CLASSES: tuple[Winner, ...] = ("A", "B", "tie")
COLUMNS = (*CLASSES, "error")

Matrix = dict[str, dict[str, int]]


def confusion_matrix(items: Iterable[tuple[Winner, Winner | None]]) -> Matrix:
    """Counts by label (rows A, B, tie) and verdict (columns A, B, tie, error)."""
    matrix: Matrix = {row: dict.fromkeys(COLUMNS, 0) for row in CLASSES}
    for label, verdict in items:
        if label not in CLASSES:
            raise ValueError(f"label must be one of {CLASSES}, got {label!r}")
        matrix[label]["error" if verdict is None else verdict] += 1
    return matrix


def cohens_kappa(matrix: Matrix) -> float | None:
    """Kappa over the verdict columns A, B, tie (errors excluded); None when undefined (see module docstring)."""
    n = sum(matrix[r][c] for r in CLASSES for c in CLASSES)
    if n == 0:
        return None
    observed = sum(matrix[k][k] for k in CLASSES) / n
    expected = sum(sum(matrix[k][c] for c in CLASSES) * sum(matrix[r][k] for r in CLASSES) for k in CLASSES) / n ** 2
    if expected >= 1.0 - 1e-12:
        return None
    return (observed - expected) / (1.0 - expected)


def agreement_summary(items: Iterable[tuple[Winner, Winner | None]]) -> dict[str, Any]:
    """The matrix, kappa (with the reason when it is undefined), accuracy, coverage and counts."""
    matrix = confusion_matrix(items)
    total = sum(sum(row.values()) for row in matrix.values())
    parsed = total - sum(row["error"] for row in matrix.values())
    kappa = cohens_kappa(matrix)
    why = None
    if kappa is None:
        why = "no judgment with a verdict" if parsed == 0 else "judge and labels use one single class"
    return {"matrix": matrix, "kappa": kappa, "kappa_undefined": why, "judgments": total, "parsed": parsed,
            "coverage": parsed / total if total else None,
            "accuracy": sum(matrix[k][k] for k in CLASSES) / total if total else None}
