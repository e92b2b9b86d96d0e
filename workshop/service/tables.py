"""Written tables: idempotent ingestion and staged commits, published atomically.

One lock guards every table, so a reader sees a commit entirely or not at all.
"""
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field

from workshop.service.errors import ApiError, bad_request, conflict, not_found
from workshop.service.sparktypes import Invalid, check_value, parse_type, type_string

TABLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
_MISSING = object()


@dataclass
class Table:
    name: str
    fields: list  # [{"name", "type", "nullable"}] with canonical type strings
    types: dict  # field name -> parsed type
    rows: list = field(default_factory=list)
    commits: int = 0
    idempotency_keys: dict = field(default_factory=dict)  # key -> (fingerprint of its rows, write id), as first sent
    commit_ids: set = field(default_factory=set)
    # stage id -> {"state": open|committed|discarded, "rows": [...], "keys": {key: fingerprint}, "write_id": str|None}
    stages: dict = field(default_factory=dict)


def check_table_name(name):
    if not TABLE_NAME.fullmatch(name):
        raise bad_request("name", "a table name is 1-128 letters, digits, '_', '-' or '.', not starting with '-' or '.'")


def parse_fields(body):
    """The table's fields from a PUT body; 400 naming what is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("fields"), list) or not body["fields"]:
        raise bad_request("fields", 'the body must be {"fields": [{"name": ..., "type": ..., "nullable": ...}, ...]}')
    fields, seen = [], set()
    for index, spec in enumerate(body["fields"]):
        where = f"fields[{index}]"
        if not isinstance(spec, dict):
            raise bad_request(where, "must be an object with name, type and nullable")
        unknown = sorted(set(spec) - {"name", "type", "nullable", "metadata"})
        if unknown:
            raise bad_request(f"{where}.{unknown[0]}", "unknown key; a field has name, type and nullable")
        name, type_text, nullable = spec.get("name"), spec.get("type"), spec.get("nullable", True)
        if not isinstance(name, str) or not name:
            raise bad_request(f"{where}.name", "must be a non-empty string")
        if name in seen:
            raise bad_request(f"{where}.name", f"{name!r} appears twice")
        if not isinstance(type_text, str):
            raise bad_request(f"{where}.type", "must be a Spark SQL type string such as 'array<string>' "
                                               "(DataType.simpleString())")
        try:
            parsed = parse_type(type_text)
        except ValueError as error:
            raise bad_request(f"{where}.type", str(error)) from None
        if not isinstance(nullable, bool):
            raise bad_request(f"{where}.nullable", "must be true or false")
        seen.add(name)
        fields.append({"name": name, "type": type_string(parsed), "nullable": nullable})
    return fields


def parse_rows(body, write_id=False):
    """The rows of a body {"rows": [...]}; with `write_id`, (rows, the optional "write_id" beside them)."""
    shape = '{"rows": [...], "write_id": "..."}' if write_id else '{"rows": [...]}'
    if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
        raise bad_request("rows", f"the body must be {shape} with rows as JSON objects")
    unknown = sorted(set(body) - {"rows", "write_id"} if write_id else set(body) - {"rows"})
    if unknown:
        raise bad_request(unknown[0], f"unknown key; the body is {shape}")
    if not write_id:
        return body["rows"]
    given = body.get("write_id")
    if given is not None and (not isinstance(given, str) or not 0 < len(given) <= 256):
        raise bad_request("write_id", "must be a string of 1 to 256 characters when given")
    return body["rows"], given


def _invalid(index, path, message):
    return ApiError(422, "invalid_rows", f"row {index}, field {path!r}: {message}", row=index, field=path)


def fingerprint(rows):
    """A digest of normalized rows: tells a repeated request from another one sent with the same key."""
    text = json.dumps(rows, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def normalize_rows(table, rows):
    """The rows with every field present (missing nullable fields as null); 422 on the first bad one."""
    normalized = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ApiError(422, "invalid_rows", f"row {index} is not a JSON object", row=index, field=None)
        unknown = [name for name in row if name not in table.types]
        if unknown:
            raise _invalid(index, unknown[0], "unknown field; the table's fields are " +
                           ", ".join(spec["name"] for spec in table.fields))
        out = {}
        for spec in table.fields:
            name = spec["name"]
            value = row.get(name, _MISSING)
            if value is _MISSING or value is None:
                if not spec["nullable"]:
                    raise _invalid(index, name, "is missing or null but the field is not nullable")
                value = None
            else:
                try:
                    check_value(table.types[name], value, name)
                except Invalid as error:
                    raise _invalid(index, error.path, error.message) from None
            out[name] = value
        normalized.append(out)
    return normalized


class Tables:
    def __init__(self):
        self._tables = {}
        self._lock = threading.Lock()

    def _get(self, name):
        table = self._tables.get(name)
        if table is None:
            raise not_found(f"no table {name!r}; create it with PUT /v1/tables/{name}", missing="table")
        return table

    def _stage(self, table, stage_id):
        stage = table.stages.get(stage_id)
        if stage is None:
            raise not_found(f"no stage {stage_id!r} in table {table.name!r}", missing="stage")
        return stage

    def create(self, name, fields):
        """(created, description); same fields again is a no-op, other fields a 409."""
        with self._lock:
            table = self._tables.get(name)
            if table is not None:
                if table.fields != fields:
                    raise conflict(f"table {name!r} exists with other fields: {table.fields}")
                return False, self._describe(table)
            types = {spec["name"]: parse_type(spec["type"]) for spec in fields}
            table = self._tables[name] = Table(name, fields, types)
            return True, self._describe(table)

    @staticmethod
    def _describe(table):
        return {"name": table.name, "fields": table.fields, "count": len(table.rows), "commits": table.commits}

    def describe(self, name):
        with self._lock:
            return self._describe(self._get(name))

    def drop(self, name):
        with self._lock:
            self._get(name)
            del self._tables[name]

    def published(self, name):
        with self._lock:
            return [dict(row) for row in self._get(name).rows]

    def page(self, name, offset, limit):
        """(rows, next offset or None)."""
        with self._lock:
            rows = self._get(name).rows
            end = offset + limit
            return rows[offset:end], (end if end < len(rows) else None)

    def insert(self, name, rows, idempotency_key=None, write_id=None):
        """Append the rows; a key seen before adds nothing, and says whether it came with these
        rows (`same_rows`) and from the same write (`same_write`: a retry whose answer was lost).

        Rows are validated first: a refused request never used its key, so a key seen before
        always stands for valid rows, and `same_rows` compares like with like."""
        with self._lock:
            table = self._get(name)
            normalized = normalize_rows(table, rows)
            if idempotency_key is not None and idempotency_key in table.idempotency_keys:
                first_rows, first_write = table.idempotency_keys[idempotency_key]
                return {"inserted": 0, "duplicate": True, "same_rows": first_rows == fingerprint(normalized),
                        "same_write": write_id is not None and first_write == write_id}
            table.rows.extend(normalized)
            table.commits += 1
            if idempotency_key is not None:
                table.idempotency_keys[idempotency_key] = (fingerprint(normalized), write_id)
            return {"inserted": len(normalized), "duplicate": False}

    def create_stage(self, name, write_id=None):
        with self._lock:
            table = self._get(name)
            stage_id = "stage-" + uuid.uuid4().hex[:16]
            table.stages[stage_id] = {"state": "open", "rows": [], "keys": {}, "write_id": write_id}
            return stage_id

    def stages(self, name, write_id=None, state=None):
        """The stages of a table (of one write, in one state, if given), oldest first: each one's
        stage_id, write_id, state (open, committed or discarded) and rows (how many it holds)."""
        with self._lock:
            return [
                {"stage_id": stage_id, "write_id": stage["write_id"], "state": stage["state"], "rows": len(stage["rows"])}
                for stage_id, stage in self._get(name).stages.items()
                if (write_id is None or stage["write_id"] == write_id) and (state is None or stage["state"] == state)
            ]

    def open_stages(self, name, write_id=None):
        """The open stages of a table (of one write, if given), oldest first, as GET .../stages lists them."""
        return [{key: stage[key] for key in ("stage_id", "write_id", "rows")} for stage in self.stages(name, write_id, "open")]

    def names(self):
        """The names of the tables that exist."""
        with self._lock:
            return sorted(self._tables)

    def stage_rows(self, name, stage_id, rows, idempotency_key=None):
        """(rows in the stage, duplicate, same rows): a key already used for this stage adds nothing."""
        with self._lock:
            table = self._get(name)
            stage = self._stage(table, stage_id)
            if stage["state"] != "open":
                raise conflict(f"stage {stage_id!r} is already {stage['state']}")
            normalized = normalize_rows(table, rows)
            if idempotency_key is not None and idempotency_key in stage["keys"]:
                return len(stage["rows"]), True, stage["keys"][idempotency_key] == fingerprint(normalized)
            stage["rows"].extend(normalized)
            if idempotency_key is not None:
                stage["keys"][idempotency_key] = fingerprint(normalized)
            return len(stage["rows"]), False, True

    def discard_stage(self, name, stage_id):
        with self._lock:
            stage = self._stage(self._get(name), stage_id)
            if stage["state"] == "committed":
                raise conflict(f"stage {stage_id!r} is already committed")
            stage["state"], stage["rows"] = "discarded", []

    def commit(self, name, stage_ids, mode, commit_id=None):
        """Publish the stages at once; a commit_id seen before publishes nothing."""
        with self._lock:
            table = self._get(name)
            if commit_id is not None and commit_id in table.commit_ids:
                return {"committed": False, "duplicate": True}
            stages = [self._stage(table, stage_id) for stage_id in stage_ids]
            for stage_id, stage in zip(stage_ids, stages):
                if stage["state"] != "open":
                    raise conflict(f"stage {stage_id!r} is already {stage['state']}")
            rows = [row for stage in stages for row in stage["rows"]]
            if mode == "overwrite":
                table.rows = rows
            else:
                table.rows.extend(rows)
            for stage in stages:
                stage["state"], stage["rows"] = "committed", []
            table.commits += 1
            if commit_id is not None:
                table.commit_ids.add(commit_id)
            return {"committed": True, "rows": len(rows)}
