"""The service's settings: defaults, validation, and the command-line flags that set them."""
FAULT_KINDS = ("429", "500", "503", "slow", "reset", "expired_token")
AUTH_METHODS = ("api_key", "basic", "oauth")

# name: (default, help). The defaults are practice values, not secrets worth protecting.
SETTINGS = {
    "host": ("127.0.0.1", "address to bind"),
    "port": (0, "port; 0 picks a free one"),
    "seed": (7, "seed of all generated data and of fault decisions"),
    "events": (100_000, "events available at start (feed seqs 1..events)"),
    "entities": (50_000, "number of entities"),
    "ring_rows": (20_000, "rows of the token-ring table kv"),
    "ring_nodes": (4, "nodes of the ring (0: an empty ring with no rows)"),
    "max_window_rows": (20_000, "a time window matching more events is refused with 413"),
    "max_page_size": (10_000, "largest page `limit`"),
    "auth": (None, "accepted auth methods: comma list of api_key, basic, oauth; `any`; `none`"),
    "api_key": ("practice-api-key", "the API key the service accepts"),
    "username": ("learner", "the HTTP Basic user name"),
    "password": ("practice-password", "the HTTP Basic password"),
    "client_id": ("practice-client", "the OAuth2 client id"),
    "client_secret": ("practice-client-secret", "the OAuth2 client secret"),
    "token_ttl": (3600, "lifetime in seconds of OAuth2 access tokens"),
    "tls": (False, "serve HTTPS with a certificate signed by a generated CA"),
    "fault_rate": (0.0, "fraction of requests that fail transiently"),
    "fault_kinds": (FAULT_KINDS, "comma list of faults to inject: " + ", ".join(FAULT_KINDS)),
    "retry_after": (1, "seconds sent in Retry-After with a 429"),
    "slow_seconds": (2.0, "delay of a `slow` fault"),
    "malformed_rate": (0.0, "fraction of event records served malformed (always the same ones)"),
    "feed_rate": (0.0, "events appended to the feed per second (0: only by append_events)"),
    "cache_mb": (512, "memory for record texts and page answers made once and served again, in MB (0: none)"),
}
DEFAULTS = {name: default for name, (default, _) in SETTINGS.items()}
SECRETS = ("api_key", "password", "client_secret")


def _number(name, value, kind, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise ValueError(f"setting {name} must be {'a number' if kind is float else 'an integer'}, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"setting {name} must be {bounds}, got {value!r}")
    return value


def _choices(name, value, allowed):
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [str(item).strip() for item in items if str(item).strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise ValueError(f"setting {name}: unknown {unknown[0]!r}; allowed: {', '.join(allowed)}")
    return tuple(item for item in allowed if item in items)  # canonical order, no repeats


def normalize(**settings):
    """All settings with defaults filled in, validated; ValueError/TypeError naming the setting."""
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown setting {unknown[0]!r}; settings are: {', '.join(DEFAULTS)}")
    merged = {**DEFAULTS, **settings}
    for name in ("seed",):
        _number(name, merged[name], int)
    for name in ("events", "entities", "ring_rows", "ring_nodes", "cache_mb"):
        _number(name, merged[name], int, 0)
    _number("port", merged["port"], int, 0, 65535)
    _number("max_window_rows", merged["max_window_rows"], int, 1)
    _number("max_page_size", merged["max_page_size"], int, 1)
    _number("retry_after", merged["retry_after"], int, 0)
    for name in ("fault_rate", "malformed_rate"):
        _number(name, merged[name], float, 0, 1)
    for name in ("token_ttl", "slow_seconds", "feed_rate"):
        _number(name, merged[name], float, 0)
    if merged["token_ttl"] <= 0:
        raise ValueError("setting token_ttl must be above 0")
    for name in ("host", "api_key", "username", "password", "client_id", "client_secret"):
        if not isinstance(merged[name], str) or not merged[name]:
            raise ValueError(f"setting {name} must be a non-empty string")
    if not isinstance(merged["tls"], bool):
        raise ValueError(f"setting tls must be True or False, got {merged['tls']!r}")
    merged["fault_kinds"] = _choices("fault_kinds", merged["fault_kinds"], FAULT_KINDS)
    auth = merged["auth"]
    if auth in (None, "", "none", ()):
        merged["auth"] = None
    elif auth == "any":
        merged["auth"] = AUTH_METHODS
    else:
        merged["auth"] = _choices("auth", auth, AUTH_METHODS) or None
    return merged


def add_arguments(parser):
    """Add one flag per setting (`--ring-rows`, `--tls`, ...); unset flags keep the defaults."""
    for name, (default, help_text) in SETTINGS.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true", default=None, help=help_text)
        elif name in ("auth", "fault_kinds") or isinstance(default, str):
            shown = ",".join(default) if isinstance(default, tuple) else default
            parser.add_argument(flag, default=None, metavar="TEXT", help=f"{help_text} (default: {shown})")
        else:
            kind = float if isinstance(default, float) or name == "token_ttl" else int
            parser.add_argument(flag, type=kind, default=None, metavar="N", help=f"{help_text} (default: {default})")
    return parser


def settings_from_args(args):
    """The settings given on the command line (the others keep their defaults), validated."""
    given = {name: getattr(args, name) for name in SETTINGS if getattr(args, name, None) is not None}
    try:
        return normalize(**given)
    except (TypeError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
