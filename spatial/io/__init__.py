"""Reading and writing land data files: formats, encodings, CRS and column mapping.

``read_layer_file`` brings a cadastre extract into the data model's column names and
codes in its source CRS; ``write_layer_file`` exports workspace layers atomically.
Validation against the data model is ``spatial.validation``'s job, not this package's.
"""

from .fieldnames import shorten_field_names
from .formats import FORMATS, FileFormat, detect_format
from .mapping import BOOLEAN_WORDS, ColumnMapping, default_value_labels, load_mapping
from .read import DEFAULT_SHAPEFILE_ENCODING, GEOMETRY_COLUMN_NAMES, read_layer_file
from .write import EXCEL_CELL_LIMIT, GEOJSON_DECIMALS, WKT_COLUMN, write_layer_file

__all__ = [
    "BOOLEAN_WORDS",
    "DEFAULT_SHAPEFILE_ENCODING",
    "EXCEL_CELL_LIMIT",
    "FORMATS",
    "GEOJSON_DECIMALS",
    "GEOMETRY_COLUMN_NAMES",
    "WKT_COLUMN",
    "ColumnMapping",
    "FileFormat",
    "default_value_labels",
    "detect_format",
    "load_mapping",
    "read_layer_file",
    "shorten_field_names",
    "write_layer_file",
]
