"""Several independent checks in one pass of the engine.

A server answering many planners at once receives single checks concurrently: each is
one parcel or drawn polygon with its own proposal. Run one by one, most of a check's
time is the engine's fixed cost per call (array set-up, code look-ups, one index query
per layer); :func:`check_many` pays it once for all of them. Subjects are independent
in the engine — every pair, reason and remainder belongs to one subject — so each
answer is exactly what :func:`~spatial.zoning.check.check_transformation` gives for that
item alone, including the error it would raise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import JerError, Problem, ValidationError
from .check import (
    CheckResult,
    Proposal,
    _code_problem,
    _subject,
    build_subjects,
    code_positions,
    geometry_problems,
    resolve_tolerance,
    result_from,
)
from .engine import evaluate, materialise, remainders
from .layers import ConstraintLayers
from .rulebook import Rulebook

__all__ = ["check_many"]


def _numbers(proposals: Sequence[Proposal], name: str) -> np.ndarray:
    values = [getattr(p, name) for p in proposals]
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def check_many(
    items: Sequence[tuple[Any, Proposal]],
    layers: ConstraintLayers,
    rulebook: Rulebook,
    *,
    tolerance_m2: float | None = None,
    tolerance_share: float | None = None,
) -> list[CheckResult | JerError]:
    """Check each ``(subject, proposal)`` pair, all in one evaluation.

    Parameters
    ----------
    items
        Subjects as :func:`~spatial.zoning.check.check_transformation` takes them (a
        polygon in the layers' CRS, a parcel row or a one-row frame), each with its own
        proposal.
    layers, rulebook, tolerance_m2, tolerance_share
        As for :func:`~spatial.zoning.check.check_transformation`, shared by all items.

    Returns
    -------
    list
        Per item, in order: its :class:`CheckResult`, or the error
        ``check_transformation`` would raise for it alone (``ValidationError`` with
        every problem, ``InputError``, ``CRSError``). One bad item never fails another.
    """
    layers.check_rulebook(rulebook)
    tolerance = resolve_tolerance(rulebook, tolerance_m2, tolerance_share)
    out: list[CheckResult | JerError | None] = [None] * len(items)
    unpacked: list[tuple[int, Any, Any, Any, str | None, list[Problem]]] = []
    # Unpacking and code checks of each request's own values (no geometry work here).
    for i, (subject, proposal) in enumerate(items):
        try:
            geom, category, use, key = _subject(subject, layers)
        except JerError as exc:
            out[i] = exc
            continue
        problems = proposal.problems(rulebook)
        problems += _code_problem(category, rulebook.categories, "land category",
                                  "land_category", layer="parcels", feature=key)
        problems += _code_problem(use, tuple(rulebook.uses), "use", "designated_use",
                                  layer="parcels", feature=key)
        unpacked.append((i, geom, category, use, key, problems))
    # Geometry problems of all items at once, then told as each item's own (row 0).
    shapes = np.empty(len(unpacked), dtype=object)
    shapes[:] = [u[1] for u in unpacked]
    for problem in geometry_problems(shapes, layer="geometry"):
        assert problem.row is not None
        key = unpacked[problem.row][4]
        unpacked[problem.row][5].append(dataclasses.replace(
            problem, layer="parcels" if key else "geometry", row=0, feature=key))
    live: list[int] = []
    geoms: list[Any] = []
    categories: list[Any] = []
    uses: list[Any] = []
    keys: list[str | None] = []
    for i, geom, category, use, key, problems in unpacked:
        if problems:
            out[i] = ValidationError(problems)
            continue
        live.append(i)
        geoms.append(geom)
        categories.append(category)
        uses.append(use)
        keys.append(key)
    if live:
        proposals = [items[i][1] for i in live]
        subjects = _subjects(np.array(geoms, dtype=object), categories, uses, proposals,
                             rulebook)
        ev = evaluate(subjects, layers, rulebook, tolerance=tolerance)
        cols = materialise(ev, layers, rulebook)
        rest = remainders(subjects.geoms, ev, layers)
        for j, i in enumerate(live):
            out[i] = result_from(ev, j, subjects, layers, rulebook, tolerance=tolerance,
                                 proposal=proposals[j], parcel=keys[j], cols=cols,
                                 remainder=rest[j])
    answers: list[CheckResult | JerError] = []
    for answer in out:
        assert answer is not None  # every item got a result or its error above
        answers.append(answer)
    return answers


def _subjects(geoms: np.ndarray, categories: list[Any], uses: list[Any],
              proposals: Sequence[Proposal], rulebook: Rulebook) -> Any:
    """Engine input for items with different proposals, read as ``build_subjects`` reads
    one proposal: a proposal's ``current_*`` overrides the recorded value, its target use
    replaces the current one, its target category is the change tested."""
    current_use = [p.current_use if p.current_use is not None else u
                   for p, u in zip(proposals, uses, strict=True)]
    use = np.array([p.target_use if p.target_use is not None else u
                    for p, u in zip(proposals, current_use, strict=True)], dtype=object)
    current = np.array([p.current_category if p.current_category is not None else c
                        for p, c in zip(proposals, categories, strict=True)], dtype=object)
    target = np.array([p.target_category for p in proposals], dtype=object)
    base = build_subjects(geoms, current, use, Proposal(), rulebook)
    return dataclasses.replace(
        base,
        target=code_positions(target, rulebook.tables.categories),
        floors=_numbers(proposals, "floors"),
        height_m=_numbers(proposals, "height_m"),
        site_coverage=_numbers(proposals, "site_coverage"),
    )
