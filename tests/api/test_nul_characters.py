"""A NUL character anywhere in an API request is malformed input (422), never a server error."""

import pytest

pytestmark = pytest.mark.django_db


def test_nul_in_a_path_parameter_is_refused(api):
    response = api("read")("GET", "/api/v1/supply-points/5414%00/balance")
    assert response.status_code == 422
    assert "NUL" in response.json()["detail"]


def test_nul_in_a_query_parameter_is_refused(api):
    response = api("topups")("GET", "/api/v1/topups/lookup?reference=88%00")
    assert response.status_code == 422
    assert response.json()["field"] == "reference"


def test_nul_in_a_json_body_is_refused_and_nothing_is_written(api):
    from solde.registry.models import Supplier

    response = api("registry")("PUT", "/api/v1/suppliers/NUL", json={"name": "A\x00B"})
    assert response.status_code == 422
    assert response.json()["field"] == "name"
    assert not Supplier.objects.filter(code="NUL").exists()
