"""Jer's domain: pure functions over GeoDataFrames and arrays, and the workspace store."""

__version__ = "0.1.0"
