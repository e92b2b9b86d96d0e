"""The served resources' schemas, as Spark SQL types (the `/v1/schema` answers)."""

# Every field is nullable: a reader in PERMISSIVE mode turns a malformed record into nulls.
_FIELDS = {
    "events": (
        "seq",
        [
            ("seq", "bigint"),
            ("event_id", "string"),
            ("event_time", "timestamp"),
            ("ingest_time", "timestamp"),
            ("event_date", "date"),
            ("device_id", "bigint"),
            ("kind", "string"),
            ("value", "double"),
            ("amount", "decimal(12,2)"),
            ("tags", "array<string>"),
            ("attributes", "map<string,string>"),
            ("location", "struct<lat:double,lon:double>"),
            ("payload", "binary"),
            ("note", "string"),
        ],
    ),
    "entities": (
        "id",
        [
            ("id", "bigint"),
            ("name", "string"),
            ("email", "string"),
            ("created_at", "timestamp"),
            ("birth_date", "date"),
            ("balance", "decimal(18,4)"),
            ("score", "double"),
            ("active", "boolean"),
            ("tags", "array<string>"),
            ("address", "struct<street:string,city:string,zip:string>"),
        ],
    ),
    "kv": (
        "key",
        [
            ("key", "string"),
            ("token", "bigint"),
            ("value", "string"),
            ("version", "bigint"),
            ("updated_at", "timestamp"),
        ],
    ),
}

RESOURCES = tuple(_FIELDS)


def ddl(fields):
    """A Spark DDL string; names are back-quoted because `key` and `value` are keywords."""
    return ", ".join(
        f"`{field['name']}` {field['type']}" + ("" if field["nullable"] else " NOT NULL") for field in fields
    )


def schema(resource):
    key, fields = _FIELDS[resource]
    listed = [{"name": name, "type": type_, "nullable": True} for name, type_ in fields]
    return {"name": resource, "key": key, "fields": listed, "ddl": ddl(listed)}


def field_names(resource):
    return [name for name, _ in _FIELDS[resource][1]]
