"""The API's JSON responses: orjson for speed, Starlette's encoder where orjson cannot."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.responses import JSONResponse

from web.api_geo import APIResponse, GeoJSONResponse


@pytest.mark.parametrize("content", [
    {"a": [1, 2.5, None, True, "жер"], "b": {"c": []}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [72.1, 40.2]}},
    [],
])
def test_api_json_is_the_json_starlette_writes(content):
    for response_class in (APIResponse, GeoJSONResponse):
        body = response_class(content).body
        assert json.loads(body) == json.loads(JSONResponse(content).body)
        assert b" " not in body.replace("жер".encode(), b"")  # compact, UTF-8 as is
        assert "жер".encode() in body or "жер" not in json.dumps(content, ensure_ascii=False)


def test_what_orjson_cannot_write_goes_to_starlettes_encoder():
    big = {"n": 2**70, 1: "int key"}
    assert json.loads(APIResponse(big).body) == {"n": 2**70, "1": "int key"}


def test_numpy_values_are_written_by_orjson_itself(monkeypatch):
    """Areas and shares come as numpy floats; they must not send a check to the fallback."""
    def refuse(self, content):
        raise AssertionError("fell back to Starlette's encoder")

    monkeypatch.setattr(JSONResponse, "render", refuse)
    body = APIResponse({"f": np.float64(0.25), "i": np.int64(3), "b": np.bool_(True),
                        "a": np.array([1.5, 2.0])}).body
    assert json.loads(body) == {"f": 0.25, "i": 3, "b": True, "a": [1.5, 2.0]}
