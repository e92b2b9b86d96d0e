"""Compare what a connector read with ground truth: the served JSON form and its checksum.

`checksum(to_json_record(row) for row in df.collect())` equals
`service.truth.checksum("events")` exactly when the DataFrame holds the served events.
"""
import base64
import json
import zlib
from datetime import date, datetime, timezone
from decimal import Decimal


def checksum(records):
    """Order-independent checksum of JSON-form records (sum of CRC-32s modulo 2**64)."""
    total = 0
    for record in records:
        total += zlib.crc32(json.dumps(record, sort_keys=True, separators=(",", ":")).encode())
    return total % 2**64


def format_timestamp(value):
    """The served form `YYYY-MM-DDTHH:MM:SS.ffffffZ`; a naive datetime is local time (as PySpark gives it)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_json_record(row):
    """A Spark Row (or dict, list, scalar) as the service serves it: ISO timestamps in UTC,
    dates `YYYY-MM-DD`, decimals as strings keeping their scale, binary as base64."""
    if hasattr(row, "asDict"):  # pyspark.sql.Row (a tuple, so test it first)
        row = row.asDict(recursive=False)
    if isinstance(row, dict):
        return {str(key): to_json_record(value) for key, value in row.items()}
    if isinstance(row, (list, tuple)):
        return [to_json_record(value) for value in row]
    if isinstance(row, datetime):
        return format_timestamp(row)
    if isinstance(row, date):
        return row.isoformat()
    if isinstance(row, Decimal):
        return format(row, "f")
    if isinstance(row, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(row)).decode()
    return row
