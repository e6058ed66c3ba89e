"""Shapefile field names: the 10-byte limit, shortening on export and recovery on import.

A ``.dbf`` field name holds at most 10 bytes, so ``official_area_ha`` arrives from
ArcGIS or QGIS as ``official_a``. Jer shortens names the same way on export whenever
that stays unambiguous, and recovers schema names on import, so a parcel layer survives
a round trip through a shapefile with its column names intact.

Shortening rule (deterministic, independent of column order):

1. a name of at most 10 bytes (UTF-8) is kept;
2. a longer name is cut to its first 10 bytes when no other name — in the frame or
   in the layer's schema — cuts to the same text (case-insensitively): ``land_category``
   → ``land_categ``;
3. otherwise its words (split on ``_``) are abbreviated: the last letter of the
   longest word (the first one among equals) is dropped until the name fits:
   ``restriction_id`` → ``restric_id``, ``restriction_type`` → ``restr_type``;
4. if that still collides, the name is cut to 7 bytes and numbered ``_01``, ``_02``…
   in alphabetical order of the full names.

Recovery on import matches, for each file column, a schema column of the target layer
that it equals case-insensitively, that abbreviates to it (rule 3), or — for names of at
least 10 characters — that it is the only prefix of (rule 2, also what other programs do).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = [
    "FIELD_NAME_BYTES",
    "abbreviate_field_name",
    "looks_truncated",
    "match_schema_column",
    "shorten_field_names",
    "truncate_field_name",
]

#: Longest ``.dbf`` field name, in bytes.
FIELD_NAME_BYTES = 10


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def truncate_field_name(name: str, *, limit: int = FIELD_NAME_BYTES) -> str:
    """``name`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    encoded = name.encode("utf-8")[:limit]
    return encoded.decode("utf-8", errors="ignore")


def abbreviate_field_name(name: str, *, limit: int = FIELD_NAME_BYTES) -> str:
    """Word-wise abbreviation of ``name`` to ``limit`` bytes (rule 3 of the module doc).

    Dropping letters from the longest word keeps every word recognisable, which plain
    truncation does not for names that share a long first word.
    """
    if _nbytes(name) <= limit:
        return name
    words = name.split("_")
    while _nbytes("_".join(words)) > limit:
        sizes = [_nbytes(w) for w in words]
        longest = sizes.index(max(sizes))
        if len(words[longest]) <= 1:
            break
        words[longest] = words[longest][:-1]
    return truncate_field_name("_".join(words), limit=limit)


def shorten_field_names(
    names: Sequence[str], *, reserved: Iterable[str] = (), limit: int = FIELD_NAME_BYTES
) -> dict[str, str]:
    """Map each of ``names`` to a unique field name of at most ``limit`` bytes.

    Parameters
    ----------
    names
        Column names to write.
    reserved
        Further names whose shortened forms must stay recognisable — the schema columns
        of the layer — so a column exported alone shortens as it would beside its
        siblings, and the reader can invert the rule without knowing what was dropped.
    limit
        Field-name limit in bytes.

    Returns
    -------
    dict
        ``{name: short_name}`` for every name; short names are unique case-insensitively.
    """
    universe = sorted(set(names) | set(reserved))
    fitting = {n.casefold() for n in universe if _nbytes(n) <= limit}
    cut_counts = Counter(
        truncate_field_name(n, limit=limit).casefold() for n in universe if _nbytes(n) > limit
    )
    abbr_counts = Counter(
        abbreviate_field_name(n, limit=limit).casefold() for n in universe if _nbytes(n) > limit
    )
    result: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        if _nbytes(name) <= limit:
            result[name] = name
            taken.add(name.casefold())
    long_names = sorted(n for n in set(names) if _nbytes(n) > limit)
    pending: list[str] = []
    for name in long_names:
        cut = truncate_field_name(name, limit=limit)
        key = cut.casefold()
        if cut_counts[key] == 1 and key not in fitting and key not in taken:
            result[name] = cut
            taken.add(key)
        else:
            pending.append(name)
    numbered: list[str] = []
    for name in pending:
        abbr = abbreviate_field_name(name, limit=limit)
        key = abbr.casefold()
        if abbr_counts[key] == 1 and key not in fitting and key not in taken:
            result[name] = abbr
            taken.add(key)
        else:
            numbered.append(name)
    counter = 0
    for name in numbered:
        stem = truncate_field_name(name, limit=limit - 3)
        while True:
            counter += 1
            candidate = f"{stem}_{counter:02d}"
            if candidate.casefold() not in taken and candidate.casefold() not in fitting:
                break
        result[name] = candidate
        taken.add(candidate.casefold())
    return result


def looks_truncated(name: str) -> bool:
    """Whether ``name`` may be a ``.dbf`` field name cut at the 10-byte limit.

    GDAL drops a multi-byte character that would straddle the limit, so a Cyrillic name
    cut from UTF-8 may end one byte short.
    """
    size = _nbytes(name)
    return size >= FIELD_NAME_BYTES or (not name.isascii() and size >= FIELD_NAME_BYTES - 1)


def match_schema_column(name: str, columns: Sequence[str]) -> str | None:
    """The schema column that file column ``name`` stands for, or ``None``.

    Exact (case-insensitive) names win, then Jer's own abbreviation, then an
    unambiguous prefix of at least 10 characters (a name truncated by any program).
    """
    key = name.strip().casefold()
    exact = [c for c in columns if c.casefold() == key]
    if exact:
        return exact[0]
    abbreviated = [c for c in columns if abbreviate_field_name(c).casefold() == key]
    if len(abbreviated) == 1:
        return abbreviated[0]
    if len(key) >= FIELD_NAME_BYTES:
        prefixed = [c for c in columns if c.casefold().startswith(key)]
        if len(prefixed) == 1:
            return prefixed[0]
    return None
