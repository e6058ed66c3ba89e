"""Encode one Mapbox vector tile layer from arrays, in a few vectorised passes.

``mapbox_vector_tile.encode`` walks every coordinate of every feature in Python; a tile of a
dense parcel layer at zoom 12 holds a thousand parcels and tens of thousands of vertices,
and encoding it took most of the tile's time. Here the geometry is taken apart with
shapely's array functions, the command stream of the whole layer (MoveTo, LineTo,
ClosePath, zig-zag deltas; MVT specification 2.1, section 4.3) is built with numpy in one
pass, and the protobuf wire format of the tile (vector_tile.proto: every feature message
is a run of varints) is written from those arrays in one more, with no Python loop over
features. The result decodes with ``mapbox_vector_tile.decode`` like its encoder's.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely

#: MVT geometry types (specification 4.3.4).
POINT, LINESTRING, POLYGON = 1, 2, 3
_MOVE_TO, _LINE_TO, _CLOSE_PATH = 1, 2, 7
_GEOMETRY_COLLECTION = 7


def _explode(geometry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single points, lines and polygons of ``geometry`` and the index of their feature."""
    parts, index = shapely.get_parts(geometry, return_index=True)
    # A clip can leave a collection that holds multi-parts: take those apart too.
    while len(parts) and (shapely.get_type_id(parts) >= 4).any():
        more, sub = shapely.get_parts(parts, return_index=True)
        parts, index = more, index[sub]
    keep = ~shapely.is_empty(parts)
    return parts[keep], index[keep]


def _paths(coords: np.ndarray, path: np.ndarray, *, closed: bool, min_points: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paths without closing points nor repeated points: the points and the paths kept.

    ``path`` numbers each coordinate's path (ascending). Returns a mask of the points kept,
    which paths have enough of them (a ring needs three points and a non-zero area) and,
    for rings, twice their signed area (the surveyor's formula on the kept points).
    """
    n_paths = int(path[-1]) + 1 if len(path) else 0
    keep = np.ones(len(coords), dtype=bool)
    if closed:  # the closing point repeats the first
        last = np.r_[path[1:] != path[:-1], True]
        keep &= ~last
    same_path = np.r_[False, path[1:] == path[:-1]]
    repeat = same_path & np.r_[False, (coords[1:] == coords[:-1]).all(axis=1)]
    keep &= ~repeat
    counts = np.bincount(path[keep], minlength=n_paths)
    good = counts >= min_points
    area: np.ndarray = np.zeros(n_paths)
    if closed:
        kept, kpath = coords[keep], path[keep]
        nxt = np.roll(np.arange(len(kept)), -1)
        starts = np.r_[0, np.flatnonzero(kpath[1:] != kpath[:-1]) + 1]
        ends = np.r_[starts[1:], len(kept)] - 1
        nxt[ends] = starts  # wrap to the path's first point
        cross = kept[:, 0] * kept[nxt, 1] - kept[nxt, 0] * kept[:, 1]
        area = np.bincount(kpath, weights=cross, minlength=n_paths)
        good &= area != 0
    return keep, good, area


def _wind(coords: np.ndarray, ring: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """``coords`` (grouped by ascending ``ring``) with the rings marked in ``flip`` reversed."""
    if not flip.any():
        return coords
    index = np.arange(len(ring))
    starts = np.r_[0, np.flatnonzero(ring[1:] != ring[:-1]) + 1]
    size = np.diff(np.r_[starts, len(ring)])
    start = np.repeat(starts, size)
    end = np.repeat(starts + size - 1, size)
    turn = flip[ring]
    return coords[np.where(turn, start + end - index, index)]


def encode_layer(name: str, geometry: Sequence[Any] | np.ndarray,
                 properties: Mapping[str, Sequence[Any] | CodedColumn] | pd.DataFrame,
                 *, extent: int = 4096) -> bytes:
    """One MVT layer ``name`` as tile bytes; ``b""`` when no feature keeps a geometry.

    Parameters
    ----------
    geometry
        Shapely geometries already in integer tile coordinates with y pointing down
        (0..``extent`` inside the tile), one per feature; empty or missing ones are left out.
        A feature keeps its parts of its highest dimension (a clip that leaves a polygon
        and a stray line keeps the polygon). Polygon rings are re-oriented as MVT wants
        (exterior clockwise on screen); rings that collapsed to no area are dropped.
    properties
        Columns of attribute values aligned with ``geometry``; missing values (``None``,
        NaN) are left out of a feature's tags. Values are str, bool, int or float. A
        :class:`CodedColumn` (made once for a layer, subset per tile with ``take``) saves
        factorising and encoding the values on every tile.
    """
    geoms = np.asarray(geometry, dtype=object)
    items = properties.items()
    columns = {str(key): value if isinstance(value, CodedColumn)
               else CodedColumn.from_values(value) for key, value in items}
    for key, column in columns.items():
        if len(column) != len(geoms):
            raise ValueError(f"{len(geoms)} geometries but {len(column)} values of {key!r}")
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    parts, feature = _explode(np.where(present, geoms, np.array(None, dtype=object)))
    dims = shapely.get_dimensions(parts)
    top = np.full(len(geoms), -1)
    np.maximum.at(top, feature, dims)
    own = dims == top[feature]
    parts, feature, dims = parts[own], feature[own], dims[own]

    # Paths: rings of polygons, lines, and one group of points per point feature.
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool, bool]] = []
    polygons = dims == 2
    if polygons.any():
        polys = parts[polygons]
        poly_feature = feature[polygons]
        rings, ring_poly = shapely.get_rings(polys, return_index=True)
        coords, ring = shapely.get_coordinates(rings, return_index=True)
        keep, good, area = _paths(coords, ring, closed=True, min_points=3)
        exterior = np.r_[True, ring_poly[1:] != ring_poly[:-1]]
        # A polygon whose exterior collapsed goes, holes and all.
        good &= np.repeat(good[exterior], np.bincount(ring_poly, minlength=len(polys)))
        # MVT 4.3.4.4: an exterior ring has a positive surveyor's area in tile coordinates
        # (clockwise on screen, y down), a hole a negative one; turn the others round.
        flip = np.where(exterior, area < 0, area > 0)
        chunks.append((_wind(coords[keep], ring[keep], flip), ring[keep],
                       poly_feature[ring_poly], good, True, False))
    lines = dims == 1
    if lines.any():
        coords, line = shapely.get_coordinates(parts[lines], return_index=True)
        keep, good, _ = _paths(coords, line, closed=False, min_points=2)
        chunks.append((coords[keep], line[keep], feature[lines], good, False, False))
    points = dims == 0
    if points.any():
        coords = shapely.get_coordinates(parts[points])
        # Points of one feature form one path (a single MoveTo with a count).
        _, group = np.unique(feature[points], return_inverse=True)
        chunks.append((coords, group, np.unique(feature[points]),
                       np.ones(int(group.max()) + 1, dtype=bool), False, True))

    xy_parts, path_feature, path_size, path_closed, path_point = [], [], [], [], []
    for coords, path, owner, good, ring, grouped in chunks:
        on = good[path]
        coords, path = coords[on], path[on]
        size = np.bincount(path, minlength=len(good))[good]
        xy_parts.append(coords)
        path_feature.append(owner[good])
        path_size.append(size)
        path_closed.append(np.full(len(size), ring))
        path_point.append(np.full(len(size), grouped))
    if not xy_parts or not sum(len(s) for s in path_size):
        return b""
    xy = np.rint(np.concatenate(xy_parts)).astype(np.int64)
    owner = np.concatenate(path_feature)
    n = np.concatenate(path_size)
    closed = np.concatenate(path_closed)
    is_points = np.concatenate(path_point)
    # Paths in feature order (stable: a polygon's exterior stays before its holes).
    order = np.argsort(owner, kind="stable")
    xy = xy[np.argsort(np.repeat(owner, n), kind="stable")]
    owner, n, closed, is_points = owner[order], n[order], closed[order], is_points[order]

    m = np.where(is_points, n, 1)  # points after the MoveTo
    length = 1 + 2 * m + np.where(n > m, 1 + 2 * (n - m), 0) + closed
    offset = np.r_[0, np.cumsum(length)[:-1]]
    stream = np.empty(int(length.sum()), dtype=np.int64)
    stream[offset] = _MOVE_TO | (m << 3)
    line = n > m
    stream[offset[line] + 1 + 2 * m[line]] = _LINE_TO | ((n[line] - m[line]) << 3)
    stream[(offset + length - 1)[closed]] = _CLOSE_PATH | (1 << 3)
    path_of_point = np.repeat(np.arange(len(n)), n)
    j = np.arange(len(xy)) - np.repeat(np.r_[0, np.cumsum(n)[:-1]], n)
    position = offset[path_of_point] + 1 + 2 * j + (j >= m[path_of_point])
    # Deltas run on across a feature's paths, from (0, 0) at each feature's start.
    point_owner = owner[path_of_point]
    previous = np.vstack([[0, 0], xy[:-1]])
    previous[np.r_[True, point_owner[1:] != point_owner[:-1]]] = 0
    delta = xy - previous
    zigzag = (delta << 1) ^ (delta >> 63)
    stream[position] = zigzag[:, 0]
    stream[position + 1] = zigzag[:, 1]

    features, first_path = np.unique(owner, return_index=True)
    geometry_start = offset[first_path]
    geometry_end = np.r_[geometry_start[1:], len(stream)]
    kind = np.where(is_points[first_path], POINT,
                    np.where(closed[first_path], POLYGON, LINESTRING))

    keys, values, flat, tag_count = _tags(columns, features)
    features_bytes = _features(flat, tag_count, kind, stream, geometry_end - geometry_start)
    return _tile(name, extent, features_bytes, keys, values)


def _varint_sizes(values: np.ndarray) -> np.ndarray:
    """Bytes of each non-negative integer as a protobuf varint (7 bits a byte)."""
    size = np.ones(len(values), dtype=np.int64)
    for bits in range(7, 64, 7):
        size += values >= (1 << bits)
    return size


def _varints(values: np.ndarray) -> bytes:
    """Non-negative integers as consecutive protobuf varints, in one vectorised pass."""
    values = np.asarray(values, dtype=np.uint64)
    size = _varint_sizes(values)
    owner = np.repeat(np.arange(len(values)), size)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(size) - size, size)
    shifted = values[owner] >> (7 * k).astype(np.uint64)
    more = (k < size[owner] - 1).astype(np.uint64) << np.uint64(7)
    return ((shifted & np.uint64(0x7F)) | more).astype(np.uint8).tobytes()


#: Wire tags (field number << 3 | wire type) of vector_tile.proto (MVT specification 4.1).
_TILE_LAYERS = 0x1A                      # Tile.layers, length-delimited
_LAYER_NAME, _LAYER_FEATURES, _LAYER_KEYS, _LAYER_VALUES = 0x0A, 0x12, 0x1A, 0x22
_LAYER_EXTENT, _LAYER_VERSION = 0x28, 0x78
_FEATURE_TAGS, _FEATURE_TYPE, _FEATURE_GEOMETRY = 0x12, 0x18, 0x22


def _features(tags: np.ndarray, tag_count: np.ndarray, kind: np.ndarray, stream: np.ndarray,
              geometry_count: np.ndarray) -> bytes:
    """Every Layer.features entry of the layer, encoded on the wire at once.

    A feature message is all varints: the tags field (packed), the type and the geometry
    (packed), each packed field preceded by its tag and byte length, and the whole
    message by the layer's features tag and its length. So the layer's feature section
    is one integer sequence, assembled with array indexing and encoded in one pass;
    a Python loop over features and protobuf objects took most of a dense tile's time.
    """
    n = len(kind)
    tag_sizes = _varint_sizes(tags)
    tag_feature = np.repeat(np.arange(n), tag_count)
    tag_bytes = np.bincount(tag_feature, weights=tag_sizes, minlength=n).astype(np.int64)
    geometry_sizes = _varint_sizes(stream)
    geometry_feature = np.repeat(np.arange(n), geometry_count)
    geometry_bytes = np.bincount(geometry_feature, weights=geometry_sizes,
                                 minlength=n).astype(np.int64)
    has_tags = tag_count > 0
    length = (np.where(has_tags, 1 + _varint_sizes(tag_bytes) + tag_bytes, 0)
              + 2 + 1 + _varint_sizes(geometry_bytes) + geometry_bytes)
    # Items per feature: [features tag, length, (tags tag, tags bytes, *tags), type tag,
    # type, geometry tag, geometry bytes, *geometry].
    items = 2 + np.where(has_tags, 2 + tag_count, 0) + 4 + geometry_count
    start = np.cumsum(items) - items
    out = np.empty(int(items.sum()), dtype=np.int64)
    out[start] = _LAYER_FEATURES
    out[start + 1] = length
    tagged = start[has_tags]
    out[tagged + 2] = _FEATURE_TAGS
    out[tagged + 3] = tag_bytes[has_tags]
    out[_ranges(start + 4, tag_count)] = tags
    after = start + 2 + np.where(has_tags, 2 + tag_count, 0)
    out[after] = _FEATURE_TYPE
    out[after + 1] = kind
    out[after + 2] = _FEATURE_GEOMETRY
    out[after + 3] = geometry_bytes
    out[_ranges(after + 4, geometry_count)] = stream
    return _varints(out)


def _varint(value: int) -> bytes:
    """One non-negative integer as a protobuf varint (for the few header fields)."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field: tag, byte length, payload."""
    return _varint(tag) + _varint(len(payload)) + payload


def _tile(name: str, extent: int, features: bytes, keys: list[str], values: bytes) -> bytes:
    """The tile of one layer, fields in field-number order as protobuf writes them."""
    layer = b"".join([
        _field(_LAYER_NAME, name.encode()),
        features,
        *(_field(_LAYER_KEYS, key.encode()) for key in keys),
        values,
        _varint(_LAYER_EXTENT), _varint(extent), _varint(_LAYER_VERSION), _varint(2),
    ])
    return _field(_TILE_LAYERS, layer)


def _value_entries(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Each value as an encoded Layer.values field, in one byte array; and their sizes.

    A string value is ``[values tag, message length, string tag, string length, UTF-8]``;
    for a column of strings (cadastral numbers: one per parcel) the headers are varints
    written in one pass and interleaved with the UTF-8 bytes by index arithmetic. Other
    columns hold a few distinct values (codes, flags), written one by one.
    """
    if not values:
        return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64)
    if not all(isinstance(v, str) for v in values):
        entries = [_field(_LAYER_VALUES, _value(v)) for v in values]
        return (np.frombuffer(b"".join(entries), dtype=np.uint8),
                np.fromiter(map(len, entries), dtype=np.int64, count=len(entries)))
    encoded = [v.encode() for v in values]
    size = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    message = 1 + _varint_sizes(size) + size
    header = np.column_stack([np.full(len(size), _LAYER_VALUES), message,
                              np.full(len(size), 0x0A), size]).ravel()
    header_bytes = np.frombuffer(_varints(header), dtype=np.uint8)
    header_size = 2 + _varint_sizes(message) + _varint_sizes(size)
    entry = header_size + size
    start = np.cumsum(entry) - entry
    out = np.empty(int(entry.sum()), dtype=np.uint8)
    out[_ranges(start, header_size)] = header_bytes
    out[_ranges(start + header_size, size)] = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return out, entry


def _ranges(start: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The concatenated index ranges ``start[i] .. start[i] + size[i]``."""
    return np.repeat(start - (np.cumsum(size) - size), size) + np.arange(int(size.sum()))


def _value(value: Any) -> bytes:
    """A Layer.values entry (vector_tile.proto ``Value``) of one attribute value."""
    if isinstance(value, bool):
        return bytes([0x38, int(value)])
    if isinstance(value, int):
        if value < 0:  # sint64, zig-zag
            return b"\x30" + _varint((value << 1) ^ (value >> 63))
        return b"\x28" + _varint(value)
    if isinstance(value, float):
        return b"\x19" + struct.pack("<d", value)
    return _field(0x0A, str(value).encode())


@dataclass(frozen=True, eq=False)
class CodedColumn:
    """An attribute column as codes into its distinct values, each value already encoded.

    A served layer's column is factorised and its values written as Layer.values entries
    once (:meth:`from_values`); a tile then takes its features' codes (:meth:`take`) and
    copies the entries of the values they use by index, with no work per value.
    """

    #: Per feature, the index of its value (-1: missing, left out of the feature's tags).
    codes: np.ndarray
    #: Encoded Layer.values fields of the distinct values, back to back, and their sizes.
    entries: np.ndarray
    sizes: np.ndarray
    starts: np.ndarray

    @classmethod
    def from_values(cls, values: Sequence[Any] | np.ndarray | pd.Series) -> CodedColumn:
        array = (values.astype(object).to_numpy() if isinstance(values, pd.Series)
                 else np.asarray(values, dtype=object))
        plain_types = {type(v) for v in array if v is not None}
        if len(plain_types) > 1:
            # True == 1 == 1.0 to pandas; as tile values they differ (bool, int, double).
            known = pd.notna(pd.Series(array, dtype=object)).to_numpy()
            keyed = pd.Series([(type(v).__name__, v) if k else None
                               for v, k in zip(array, known, strict=True)], dtype=object)
            codes, keys = pd.factorize(keyed, sort=False)
            uniques = [key[1] for key in keys]
        else:
            codes, distinct = pd.factorize(pd.Series(array, dtype=object), sort=False)
            uniques = list(distinct)
        plain = [u.item() if isinstance(u, np.generic) else u for u in uniques]
        entries, sizes = _value_entries(plain)
        return cls(np.asarray(codes, dtype=np.int64), entries, sizes,
                   np.cumsum(sizes) - sizes)

    def __len__(self) -> int:
        return len(self.codes)

    def extended(self, rows: np.ndarray, values: Sequence[Any] | pd.Series) -> CodedColumn:
        """The column of the features ``rows`` (index or mask) followed by ``values``.

        The new values join the values table after the old ones; a value already there
        may appear twice, which the specification allows, and no tile can tell.
        """
        more = CodedColumn.from_values(values)
        codes = np.where(more.codes >= 0, more.codes + len(self.sizes), -1)
        sizes = np.concatenate([self.sizes, more.sizes])
        return CodedColumn(np.concatenate([self.codes[rows], codes]),
                           np.concatenate([self.entries, more.entries]), sizes,
                           np.cumsum(sizes) - sizes)

    def take(self, rows: np.ndarray) -> CodedColumn:
        """The column for the features ``rows`` (the values table is shared)."""
        return CodedColumn(self.codes[rows], self.entries, self.sizes, self.starts)


def _tags(columns: Mapping[str, CodedColumn], features: np.ndarray
          ) -> tuple[list[str], bytes, np.ndarray, np.ndarray]:
    """Keys, encoded values, flat (key, value) tag list and each feature's tag count.

    Each column gets its own run of the layer's values table, holding the distinct
    values its features use in this tile; the specification asks for no more.
    """
    keys: list[str] = []
    value_columns, masks, blobs = [], [], []
    offset = 0
    for key, column in columns.items():
        codes = column.codes[features]
        known = codes >= 0
        if not known.any():
            continue
        used = np.unique(codes[known])
        index = np.full(len(codes), -1, dtype=np.int64)
        index[known] = offset + np.searchsorted(used, codes[known])
        offset += len(used)
        blobs.append(column.entries[_ranges(column.starts[used], column.sizes[used])])
        keys.append(key)
        value_columns.append(index)
        masks.append(known)
    if not keys:
        return [], b"", np.zeros(0, dtype=np.int64), np.zeros(len(features), np.int64)
    value_index = np.column_stack(value_columns)
    mask = np.column_stack(masks)
    pairs = np.stack([np.broadcast_to(np.arange(len(keys)), value_index.shape), value_index],
                     axis=2)
    flat = pairs[mask].ravel()
    return keys, np.concatenate(blobs).tobytes(), flat, 2 * mask.sum(axis=1)
