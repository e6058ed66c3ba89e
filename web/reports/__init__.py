"""Finished reports rendered from the domain's results (HTML with maps, XLSX)."""
