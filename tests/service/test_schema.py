"""Schema endpoints: every resource described with Spark types that match the served records."""
import pytest
import requests

from workshop.service import PracticeService

EXPECTED = {
    "events": ("seq", {"seq": "bigint", "event_time": "timestamp", "event_date": "date", "amount": "decimal(12,2)",
                       "value": "double", "tags": "array<string>", "attributes": "map<string,string>",
                       "location": "struct<lat:double,lon:double>", "payload": "binary", "note": "string"}),
    "entities": ("id", {"id": "bigint", "balance": "decimal(18,4)", "active": "boolean", "birth_date": "date",
                        "address": "struct<street:string,city:string,zip:string>"}),
    "kv": ("key", {"key": "string", "token": "bigint", "version": "bigint", "updated_at": "timestamp"}),
}


@pytest.fixture(scope="module")
def service():
    with PracticeService(events=50, entities=50, ring_rows=50) as running:
        yield running


def test_schema_lists_every_resource(service):
    resources = requests.get(service.url + "/v1/schema", timeout=10).json()["resources"]
    assert set(resources) == set(EXPECTED)
    for name in EXPECTED:
        assert resources[name] == requests.get(f"{service.url}/v1/schema/{name}", timeout=10).json()


@pytest.mark.parametrize("resource", sorted(EXPECTED))
def test_fields_types_and_ddl_match_the_records(service, resource):
    schema = requests.get(f"{service.url}/v1/schema/{resource}", timeout=10).json()
    key, types = EXPECTED[resource]
    assert schema["name"] == resource and schema["key"] == key
    fields = {field["name"]: field for field in schema["fields"]}
    for name, type_ in types.items():
        assert fields[name]["type"] == type_ and isinstance(fields[name]["nullable"], bool)
    for record in service.truth.records(resource)[:20]:
        assert list(record) == [field["name"] for field in schema["fields"]]
    for field in schema["fields"]:
        assert f"`{field['name']}` {field['type']}" in schema["ddl"]


def test_unknown_resource_is_404(service):
    answer = requests.get(service.url + "/v1/schema/users", timeout=10)
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"
