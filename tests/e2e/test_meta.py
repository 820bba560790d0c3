"""Health, info, schema and the wire conventions every endpoint shares."""

import pytest

pytestmark = pytest.mark.e2e


def test_ok_answers_with_and_without_a_database_check(http):
    assert http.get("/ok").json() == {"ok": True}
    assert http.get("/ok", params={"check_db": "1"}).json()["ok"] is True


def test_info_reports_versions_and_flags(http):
    info = http.get("/info").json()
    assert info["version"]
    assert info["flags"]["assistants"] is True


def test_openapi_schema_and_docs_are_served(http):
    schema = http.get("/openapi.json")
    assert schema.status_code == 200
    assert "/threads/search" in schema.json()["paths"]
    assert http.get("/docs").status_code == 200


def test_unknown_paths_and_bad_json_get_json_errors(http):
    missing = http.get("/nope")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    bad = http.post("/threads", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 422
    assert "Invalid JSON" in bad.json()["detail"]


def test_cors_exposes_pagination_and_location_headers(http):
    response = http.post("/threads/search", json={}, headers={"Origin": "http://example.com"})
    exposed = response.headers["access-control-expose-headers"].lower()
    for header in ("x-pagination-total", "x-pagination-next", "content-location", "location"):
        assert header in exposed
