"""The constraint engine shared by the single check and the batch.

One code path evaluates any number of parcels (one for a planner's check, 100 000 for
the working group), so a single check and the batch cannot disagree. Per layer it runs
one bulk bounding-box query, then shapely array operations on the candidate pairs:

* pairs whose feature covers the parcel take the parcel's area, no intersection;
* pairs whose feature does not touch the parcel are dropped, no intersection;
* only the remaining, partial pairs are intersected and measured.

Rules are looked up as arrays compiled from the rulebook (``Rulebook.tables``): the
regime of every (rule, use), the categories a rule blocks, the building limits, the
transition matrix, and the index of each reason's message. Nothing branches on a use
or a category code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import shapely

from .layers import LAYERS, ConstraintLayers
from .rulebook import BUILDING_PARAMETERS, REGIMES, Rulebook

__all__ = [
    "KINDS",
    "VERDICTS",
    "Evaluation",
    "Measured",
    "Subjects",
    "evaluate",
    "materialise",
    "measure",
    "prohibiting",
    "prohibiting_rows",
    "remainder_areas",
    "remainders",
    "uses_on",
]

#: Kinds of reasons, in report order.
KINDS: tuple[str, ...] = ("transition", "category_fit", "zoning", "building", "restriction")
K_TRANSITION, K_FIT, K_ZONING, K_BUILDING, K_RESTRICTION = range(5)
#: Verdict for the worst regime among the reasons (index = regime code).
VERDICTS: tuple[str, ...] = ("allowed", "conditional", "prohibited")
PERMITTED, CONDITIONAL, PROHIBITED = range(3)

#: Below this many pairs threads cost more than they save.
_MIN_PAIRS_PER_THREAD = 5_000
#: Likewise for parcels to cut (each costs a polygon difference, far more than a pair test).
_MIN_CUTS_PER_THREAD = 500
#: Uncovered parts smaller than this share of the parcel are rounding, not "outside zones".
_OUTSIDE_EPS = 1e-9

_COLUMNS: dict[str, type] = {
    "pos": np.int64, "kind": np.int8, "layer": np.int8, "feature": np.int64,
    "rule": np.int64, "param": np.int8, "overlap": np.float64, "share": np.float64,
    "regime": np.int8, "note": np.bool_, "blocks": np.bool_, "value": np.float64,
    "limit": np.float64, "authority": np.int16, "entry": np.int64,
}


@dataclass(frozen=True)
class Subjects:
    """What is checked, one row per parcel, as arrays of codes (``-1``: unknown/none).

    ``use`` is the use to test (the proposal's target use, else the current one),
    ``current``/``target`` are land-category positions in ``Rulebook.tables.categories``;
    ``floors``, ``height_m`` and ``site_coverage`` are NaN when not proposed.
    """

    geoms: np.ndarray
    use: np.ndarray
    current: np.ndarray
    target: np.ndarray
    floors: np.ndarray
    height_m: np.ndarray
    site_coverage: np.ndarray

    def __len__(self) -> int:
        return len(self.geoms)


@dataclass(frozen=True)
class Tolerance:
    """Overlap thresholds; an overlap is a note only if under every threshold given."""

    area_m2: float | None
    share_pct: float | None

    def is_note(self, overlap: np.ndarray, share: np.ndarray) -> np.ndarray:
        if self.area_m2 is None and self.share_pct is None:
            return np.zeros(len(overlap), dtype=bool)
        note = np.ones(len(overlap), dtype=bool)
        if self.area_m2 is not None:
            note &= overlap < self.area_m2
        if self.share_pct is not None:
            note &= share < self.share_pct
        return note


@dataclass
class Evaluation:
    """Every reason of every subject as parallel arrays, sorted by subject then report order.

    ``pairs`` keeps, per layer, all overlapping (subject, feature, overlap) pairs, also
    those that produced no reason (zones when no use is tested), for the remainder.
    """

    area: np.ndarray
    cols: dict[str, np.ndarray]
    pairs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.cols["pos"])

    def measured(self) -> Measured:
        """The overlaps this evaluation measured, to evaluate other proposals on them."""
        return Measured(area=self.area, pairs=dict(self.pairs))

    def worst(self) -> np.ndarray:
        """Worst regime per subject among reasons that are not notes (``-1``: no reason)."""
        worst = np.full(len(self.area), -1, dtype=np.int8)
        keep = ~self.cols["note"]
        np.maximum.at(worst, self.cols["pos"][keep], self.cols["regime"][keep])
        return worst


def _rows(n: int, **values: np.ndarray | int | float | bool) -> dict[str, np.ndarray]:
    """A block of ``n`` reason rows; columns not given take their 'none' value."""
    defaults: dict[str, int | float | bool] = {
        "feature": -1, "rule": -1, "param": -1, "layer": -1, "overlap": np.nan,
        "share": np.nan, "note": False, "blocks": False, "value": np.nan, "limit": np.nan,
        "authority": -1,
    }
    out: dict[str, np.ndarray] = {}
    for name, dtype in _COLUMNS.items():
        value = values.get(name, defaults.get(name))
        if value is None:
            raise TypeError(f"reason column {name!r} needs a value")
        out[name] = np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()
    return out


def _chunks(n: int, n_jobs: int) -> list[np.ndarray]:
    """Pair positions in ``n_jobs`` contiguous chunks (pairs come sorted by parcel)."""
    if n_jobs <= 1 or n < 2 * _MIN_PAIRS_PER_THREAD:
        return [np.arange(n)]
    return [c for c in np.array_split(np.arange(n), n_jobs) if len(c)]


def _map_chunks(
    fn: Callable[[np.ndarray, int], np.ndarray], chunks: Sequence[np.ndarray], n: int,
    n_jobs: int,
) -> np.ndarray:
    """Run ``fn(chunk, worker)`` on each chunk (threads: shapely releases the GIL)."""
    out = np.zeros(n, dtype=np.float64)
    if len(chunks) <= 1 or n_jobs <= 1:
        for chunk in chunks:
            out[chunk] = fn(chunk, 0)
        return out
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        results = pool.map(fn, chunks, range(len(chunks)))
        for chunk, result in zip(chunks, results, strict=True):
            out[chunk] = result
    return out


def overlap_pairs(
    geoms: np.ndarray, area: np.ndarray, features: Callable[[int], np.ndarray],
    pos: np.ndarray, feat: np.ndarray, *, n_jobs: int = 1,
) -> np.ndarray:
    """Overlap area of each candidate pair, skipping the work it does not need.

    ``features(k)`` gives the prepared feature geometries for worker ``k`` (each worker
    its own copies, see :meth:`LayerIndex.replica`). Covered parcels take their own
    area; disjoint or merely touching pairs come out as 0 (the caller drops them).
    """

    def measure(chunk: np.ndarray, worker: int) -> np.ndarray:
        f, p = features(worker)[feat[chunk]], geoms[pos[chunk]]
        covered = shapely.covers(f, p)
        out = np.where(covered, area[pos[chunk]], 0.0)
        rest = np.flatnonzero(~covered)
        rest = rest[shapely.intersects(f[rest], p[rest])]
        if rest.size:
            out[rest] = shapely.area(shapely.intersection(p[rest], f[rest]))
        return out

    return _map_chunks(measure, _chunks(len(pos), n_jobs), len(pos), n_jobs)


@dataclass(frozen=True)
class Measured:
    """The geometric half of an evaluation: parcel areas and overlapping pairs per layer.

    It depends only on the parcels and the layers, not on the proposal, so a caller
    checking the same parcels against several proposals (capacity for each use) measures
    once and passes it to :func:`evaluate` each time.
    """

    area: np.ndarray
    pairs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]

    def __len__(self) -> int:
        return len(self.area)

    def take(self, sel: np.ndarray) -> Measured:
        """The measurement of the parcels at positions ``sel`` (renumbered 0..len-1).

        Pairs keep their order, so every sum over a parcel's pairs adds up in the same
        order as when the selection is measured on its own.
        """
        sel = np.asarray(sel, dtype=np.int64)
        new = np.full(len(self.area), -1, dtype=np.int64)
        new[sel] = np.arange(sel.size)
        if sel.size and (new[sel] != np.arange(sel.size)).any():
            raise ValueError("a parcel is selected twice; take() needs distinct positions")
        pairs = {}
        for name, (pos, feat, overlap) in self.pairs.items():
            keep = new[pos] >= 0
            pairs[name] = (new[pos[keep]], feat[keep], overlap[keep])
        return Measured(area=self.area[sel], pairs=pairs)


def measure(geoms: np.ndarray, layers: ConstraintLayers, *, n_jobs: int = 1) -> Measured:
    """Area of every parcel and every (parcel, feature, overlap > 0) pair of every layer."""
    area = shapely.area(geoms)
    pairs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for name in LAYERS:
        layer = layers.layer(name)
        pos, feat = layer.query(geoms)
        overlap = overlap_pairs(geoms, area, layer.replica, pos, feat, n_jobs=n_jobs)
        keep = overlap > 0
        pairs[name] = (pos[keep], feat[keep], overlap[keep])
    return Measured(area=area, pairs=pairs)


def evaluate(
    subjects: Subjects,
    layers: ConstraintLayers,
    rulebook: Rulebook,
    *,
    tolerance: Tolerance,
    n_jobs: int = 1,
    measured: Measured | None = None,
) -> Evaluation:
    """Every reason for every subject; see the module docstring for the method.

    ``measured`` is :func:`measure` of ``subjects.geoms``, when the caller already has it.
    """
    t = rulebook.tables
    geoms = subjects.geoms
    n = len(geoms)
    if measured is None:
        measured = measure(geoms, layers, n_jobs=n_jobs)
    elif len(measured) != n:
        raise ValueError(f"measured holds {len(measured)} parcels, the subjects {n}")
    area = measured.area
    use, current, target = subjects.use, subjects.current, subjects.target
    has_use = use >= 0
    use0 = np.maximum(use, 0)
    change = (target >= 0) & (target != current)
    target0 = np.maximum(target, 0)
    blocks: list[dict[str, np.ndarray]] = []
    pairs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    zoned = np.zeros(n)

    for li, name in enumerate(LAYERS):
        layer = layers.layer(name)
        pos, feat, overlap = measured.pairs[name]
        pairs[name] = (pos, feat, overlap)
        rule = layer.rules(rulebook)[feat]
        share = overlap / area[pos] * 100.0
        note = tolerance.is_note(overlap, share)
        if name == "zones":
            zoned += np.bincount(pos, weights=overlap, minlength=n)
            sel = has_use[pos]
            pos, feat, overlap, rule, share, note = (
                a[sel] for a in (pos, feat, overlap, rule, share, note)
            )
            u = use[pos]
            regime = t.regime[rule, u]
            blocks.append(_rows(
                len(pos), pos=pos, kind=K_ZONING, layer=li, feature=feat, rule=rule,
                overlap=overlap, share=share, regime=regime, note=note,
                entry=t.entry_zoning[rule, u],
            ))
            blocks.append(_building(subjects, area, pos, feat, rule, overlap, share, regime,
                                    note, li, rulebook))
            continue
        use_regime = np.where(has_use[pos], t.regime[rule, use0[pos]], PERMITTED)
        blocked = change[pos] & t.blocks[rule, target0[pos]]
        regime = np.maximum(use_regime, np.where(blocked, PROHIBITED, PERMITTED))
        blocks.append(_rows(
            len(pos), pos=pos, kind=K_RESTRICTION, layer=li, feature=feat, rule=rule,
            overlap=overlap, share=share, regime=regime, note=note, blocks=blocked,
            entry=t.entry_restriction[rule],
        ))

    # Parts of a parcel outside every zone: no zoning rule applies there (a note).
    uncovered = area - zoned
    out = np.flatnonzero(uncovered > _OUTSIDE_EPS * np.maximum(area, 1.0))
    blocks.append(_rows(
        out.size, pos=out, kind=K_ZONING, layer=LAYERS.index("zones"), overlap=uncovered[out],
        share=uncovered[out] / area[out] * 100.0, regime=PERMITTED, note=True,
        entry=t.entry_outside,
    ))

    # Change of land category: the transition matrix decides, and who decides it.
    known = np.flatnonzero(change & (current >= 0))
    authority = t.transition[current[known], target[known]]
    blocks.append(_rows(
        known.size, pos=known, kind=K_TRANSITION, authority=authority,
        regime=np.where(authority >= 0, CONDITIONAL, PROHIBITED),
        entry=t.entry_transition[current[known], target[known]],
    ))
    unknown = np.flatnonzero(change & (current < 0))
    blocks.append(_rows(
        unknown.size, pos=unknown, kind=K_TRANSITION, regime=CONDITIONAL, note=True,
        entry=t.entry_transition_unknown[target[unknown]],
    ))

    # Does the use fit the land category it will be on?
    category = np.where(target >= 0, target, current)
    misfit = np.flatnonzero(has_use & (category >= 0))
    misfit = misfit[~t.fits[use[misfit], category[misfit]]]
    blocks.append(_rows(
        misfit.size, pos=misfit, kind=K_FIT, regime=PROHIBITED,
        entry=t.entry_fit[use[misfit], category[misfit]],
    ))

    cols = {name: np.concatenate([b[name] for b in blocks]) for name in _COLUMNS}
    order = np.lexsort((cols["param"], cols["feature"], cols["layer"], cols["kind"], cols["pos"]))
    return Evaluation(area=area, cols={k: v[order] for k, v in cols.items()}, pairs=pairs)


def _building(
    subjects: Subjects, area: np.ndarray, pos: np.ndarray, feat: np.ndarray, rule: np.ndarray,
    overlap: np.ndarray, share: np.ndarray, regime: np.ndarray, note: np.ndarray, li: int,
    rulebook: Rulebook,
) -> dict[str, np.ndarray]:
    """Building-limit violations in each zone that allows the use (a loop over 5 limits)."""
    t = rulebook.tables
    values = {
        "floors": subjects.floors, "height_m": subjects.height_m,
        "site_coverage": subjects.site_coverage, "plot_ha": area / 10_000.0,
    }
    live = np.flatnonzero(~note & (regime < PROHIBITED))
    u = subjects.use[pos[live]]
    found = []
    for p, name in enumerate(t.parameters):
        comparison, field_name = BUILDING_PARAMETERS[name]
        limit = t.limit[rule[live], p]
        value = values[field_name][pos[live]]
        applies = t.limit_applies[rule[live], p, u] & ~np.isnan(limit) & ~np.isnan(value)
        broken = applies & ((value > limit) if comparison == "max" else (value < limit))
        i = live[broken]
        found.append(_rows(
            i.size, pos=pos[i], kind=K_BUILDING, layer=li, feature=feat[i], rule=rule[i],
            param=p, overlap=overlap[i], share=share[i], regime=t.limit_regime[rule[i], p],
            value=value[broken], limit=limit[broken], entry=t.entry_building[rule[i], p],
        ))
    return {name: np.concatenate([b[name] for b in found]) for name in _COLUMNS}


def materialise(
    ev: Evaluation, layers: ConstraintLayers, rulebook: Rulebook
) -> dict[str, np.ndarray]:
    """Reason columns as readable values (codes, ids, names, messages) by array takes."""
    t = rulebook.tables
    c = ev.cols
    entry = c["entry"]
    layer = c["layer"]
    feature = c["feature"]
    n = len(entry)
    layer_names = np.array([*LAYERS, None], dtype=object)
    feature_id = np.full(n, None, dtype=object)
    feature_name = np.full(n, None, dtype=object)
    for li, name in enumerate(LAYERS):
        sel = np.flatnonzero((layer == li) & (feature >= 0))
        if sel.size:
            index = layers.layer(name)
            feature_id[sel] = index.ids[feature[sel]]
            feature_name[sel] = index.names[feature[sel]]
    authorities = np.array([*t.authorities, None], dtype=object)
    out = {
        "pos": c["pos"],
        "kind": np.array(KINDS, dtype=object)[c["kind"]],
        "rule_id": t.entry_rule_id[entry],
        "layer": layer_names[layer],
        "feature_id": feature_id,
        "feature_name": feature_name,
        "overlap_m2": c["overlap"],
        "overlap_share": c["share"],
        "regime": np.array(REGIMES, dtype=object)[c["regime"]],
        "note": c["note"],
        "blocks_category": c["blocks"],
        "value": c["value"],
        "limit": c["limit"],
        "authority": authorities[c["authority"]],
        "source": t.entry_source[entry],
    }
    for lang, messages in t.entry_message.items():
        out[f"message_{lang}"] = messages[entry]
    return out


def prohibiting_rows(ev: Evaluation) -> np.ndarray:
    """Rows of ``ev.cols`` that prohibit with a feature's geometry (what a remainder cuts)."""
    c = ev.cols
    return np.flatnonzero(
        ~c["note"] & (c["regime"] == PROHIBITED) & (c["feature"] >= 0)
        & np.isin(c["kind"], (K_ZONING, K_RESTRICTION))
    )


def prohibiting(ev: Evaluation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(subject, layer, feature) of every prohibiting overlap, in report order per subject."""
    c = ev.cols
    sel = prohibiting_rows(ev)
    return c["pos"][sel], c["layer"][sel], c["feature"][sel]


def remainders(
    geoms: np.ndarray, ev: Evaluation, layers: ConstraintLayers
) -> np.ndarray:
    """Each parcel minus every feature that prohibits its proposal.

    Differences are applied in rounds — round *k* subtracts each parcel's *k*-th
    prohibiting feature from all parcels at once — so the loop runs over the largest
    number of prohibiting features of one parcel, never over parcels.
    """
    pos, layer, feature = prohibiting(ev)
    cutters = np.empty(len(pos), dtype=object)
    for li, name in enumerate(LAYERS):
        sel = layer == li
        cutters[sel] = layers.layer(name).geoms[feature[sel]]
    out = np.array(geoms, dtype=object, copy=True)
    if not len(pos):
        return out
    order = np.argsort(pos, kind="stable")
    pos, cutters = pos[order], cutters[order]
    starts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
    rank = np.arange(len(pos)) - np.repeat(starts, np.diff(np.r_[starts, len(pos)]))
    for k in range(int(rank.max()) + 1):
        sel = rank == k
        out[pos[sel]] = shapely.difference(out[pos[sel]], cutters[sel])
    return out


def remainder_areas(
    geoms: np.ndarray,
    cuts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    layers: ConstraintLayers,
    *,
    n_jobs: int = 1,
) -> list[np.ndarray]:
    """Area of :func:`remainders` for several sets of cuts of the same parcels at once.

    ``cuts`` holds, per evaluation (say one per intended use), the (parcel position,
    layer, feature) triples to subtract, as :func:`prohibiting` gives them. Uses often
    share their prohibitions (a water protection strip prohibits every kind of
    building), so each distinct (parcel, ordered features) combination is cut once.
    Features are subtracted in the same order as :func:`remainders` does, so the areas
    are identical to ``shapely.area(remainders(...))``. Parcels a set does not cut keep
    their own area.
    """
    offsets = np.cumsum([0, *(len(layers.layer(name).geoms) for name in LAYERS)])
    cutter_geoms = np.concatenate(
        [np.asarray(layers.layer(name).geoms, dtype=object) for name in LAYERS]
        + [np.empty(0, dtype=object)])
    area = shapely.area(geoms)
    out = [area.copy() for _ in cuts]
    rows, owners = [], []
    width = 0
    for k, (pos, layer, feature) in enumerate(cuts):
        if not len(pos):
            continue
        order = np.argsort(pos, kind="stable")
        pos = np.asarray(pos, dtype=np.int64)[order]
        cutter = offsets[np.asarray(layer, dtype=np.int64)[order]] + np.asarray(
            feature, dtype=np.int64)[order]
        starts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
        rank = np.arange(len(pos)) - np.repeat(starts, np.diff(np.r_[starts, len(pos)]))
        block = np.full((starts.size, int(rank.max()) + 2), -1, dtype=np.int64)
        block[:, 0] = pos[starts]
        block[np.repeat(np.arange(starts.size), np.diff(np.r_[starts, len(pos)])),
              rank + 1] = cutter
        rows.append(block)
        owners.append(np.full(starts.size, k, dtype=np.int64))
        width = max(width, block.shape[1])
    if not rows:
        return out
    table = np.concatenate([np.pad(b, ((0, 0), (0, width - b.shape[1])), constant_values=-1)
                            for b in rows])
    unique, inverse = np.unique(table, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)

    def cut(chunk: np.ndarray, _worker: int) -> np.ndarray:
        part = unique[chunk]
        pieces = np.array(geoms, dtype=object)[part[:, 0]]
        for r in range(1, width):
            sel = part[:, r] >= 0
            pieces[sel] = shapely.difference(pieces[sel], cutter_geoms[part[sel, r]])
        return shapely.area(pieces)

    few = n_jobs <= 1 or len(unique) < 2 * _MIN_CUTS_PER_THREAD
    chunks = [np.arange(len(unique))] if few else [
        c for c in np.array_split(np.arange(len(unique)), n_jobs) if len(c)]
    areas = _map_chunks(cut, chunks, len(unique), n_jobs)
    owner = np.concatenate(owners)
    parcel = table[:, 0]
    for k in range(len(cuts)):
        sel = owner == k
        out[k][parcel[sel]] = areas[inverse[sel]]
    return out


def uses_on(
    piece: shapely.Geometry, subject: int, ev: Evaluation, layers: ConstraintLayers,
    rulebook: Rulebook, *, tolerance: Tolerance, parcel_area: float,
) -> np.ndarray:
    """Worst regime of every use over the features that overlap ``piece`` beyond tolerance.

    Used for the remainder of one parcel: zone types and restrictions that still cover
    part of it decide which uses would be allowed there. Returns one regime code per use
    of ``rulebook.tables.uses``.
    """
    t = rulebook.tables
    worst = np.zeros(len(t.uses), dtype=np.int8)
    if piece is None or shapely.is_empty(piece):
        return np.full(len(t.uses), PROHIBITED, dtype=np.int8)
    for name in LAYERS:
        pos, feat, _ = ev.pairs[name]
        feat = feat[pos == subject]
        if not feat.size:
            continue
        index = layers.layer(name)
        overlap = shapely.area(shapely.intersection(index.geoms[feat], piece))
        share = overlap / parcel_area * 100.0 if parcel_area > 0 else np.zeros_like(overlap)
        live = (overlap > 0) & ~tolerance.is_note(overlap, share)
        rules = index.rules(rulebook)[feat[live]]
        if rules.size:
            worst = np.maximum(worst, t.regime[rules].max(axis=0))
    return worst
