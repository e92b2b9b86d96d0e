"""Media types and content codings: what a request accepts (quality values, RFC 9110), and gzip."""
import gzip

JSON = "application/json"
ARROW = "application/vnd.apache.arrow.stream"
GZIP_LEVEL = 1  # JSON still shrinks about 4x at level 1, at a fraction of the CPU of level 6


def qualities(header):
    """{lower-cased media range or coding: quality} of an Accept or Accept-Encoding header."""
    found = {}
    for part in (header or "").split(","):
        name, *parameters = part.split(";")
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    pass  # a garbled quality counts as the default
        if name.strip():
            found[name.strip().lower()] = quality
    return found


def accepts_gzip(accept_encoding):
    given = qualities(accept_encoding)
    return given.get("gzip", given.get("*", 0)) > 0


def wants_arrow(accept):
    """True when Accept names the Arrow stream type at least as high as anything that means JSON."""
    given = qualities(accept)
    arrow = given.get(ARROW, 0)
    return arrow > 0 and arrow >= max(given.get(JSON, 0), given.get("application/*", 0), given.get("*/*", 0))


def compress(body):
    return gzip.compress(body, compresslevel=GZIP_LEVEL)
