"""API key, HTTP Basic and OAuth2 client credentials with expiring bearer tokens.

Secrets are compared in constant time and never echoed in messages.
"""
import base64
import binascii
import hmac
import json
import secrets
import threading
import time
from urllib.parse import parse_qsl

from workshop.service.errors import ApiError, bad_request

_CHALLENGES = {
    "api_key": 'ApiKey realm="practice", header="X-API-Key"',
    "basic": 'Basic realm="practice"',
    "oauth": 'Bearer realm="practice"',
}


def _same(given, expected):
    return hmac.compare_digest(given.encode(), expected.encode())


def _basic_pair(authorization):
    """(user, password) from `Basic ...`, or None when the header is not a usable Basic one."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None


def _bearer(authorization):
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class Auth:
    def __init__(self, settings):
        self.methods = settings["auth"] or ()
        self._settings = settings
        self._tokens = {}  # token -> expiry (time.monotonic)
        self._lock = threading.Lock()

    def _unauthorized(self, code, message):
        challenge = ", ".join(_CHALLENGES[method] for method in self.methods)
        return ApiError(401, code, message, headers={"WWW-Authenticate": challenge}, accepted=list(self.methods))

    def check(self, headers, query):
        """The bearer token used (or None); raises 401 unless a credential is accepted."""
        if not self.methods:
            return None
        settings, authorization = self._settings, headers.get("Authorization")
        if "api_key" in self.methods:
            key = headers.get("X-API-Key") or query.get("api_key")
            if key and _same(key, settings["api_key"]):
                return None
        if "basic" in self.methods:
            pair = _basic_pair(authorization)
            if pair and _same(pair[0], settings["username"]) & _same(pair[1], settings["password"]):
                return None
        token = _bearer(authorization)
        if "oauth" in self.methods and token:
            with self._lock:
                expiry = self._tokens.get(token)
            if expiry is not None and time.monotonic() < expiry:
                return token
            if expiry is not None:
                raise self._unauthorized("token_expired", "the access token has expired; get a new one from /oauth/token")
        accepted = ", ".join(self.methods)
        raise self._unauthorized("unauthorized", f"missing or wrong credentials; accepted: {accepted}")

    def issued_tokens(self):
        """Every access token issued and still remembered (to check them), oldest first."""
        with self._lock:
            return list(self._tokens)

    def expire(self, token):
        with self._lock:
            if token in self._tokens:
                self._tokens[token] = time.monotonic()

    def issue_token(self, headers, body):
        """The /oauth/token answer for a client-credentials request (form or JSON body)."""
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if content_type == "application/json":
                form = json.loads(body or b"{}")
                if not isinstance(form, dict):
                    raise ValueError
            else:
                form = dict(parse_qsl(body.decode(), keep_blank_values=True, errors="strict"))
        except (ValueError, RecursionError):
            raise bad_request("body", "expected a form body grant_type=client_credentials&client_id=...&client_secret=...") from None
        if form.get("grant_type") != "client_credentials":
            raise bad_request("grant_type", "must be client_credentials")
        pair = _basic_pair(headers.get("Authorization")) or (form.get("client_id"), form.get("client_secret"))
        client_id, client_secret = (value if isinstance(value, str) else "" for value in pair)
        settings = self._settings
        if not (_same(client_id, settings["client_id"]) & _same(client_secret, settings["client_secret"])):
            raise ApiError(401, "unauthorized", "unknown client or wrong client secret",
                           headers={"WWW-Authenticate": _CHALLENGES["basic"]})
        ttl = settings["token_ttl"]
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            # Forget tokens long expired; recently expired ones still answer token_expired.
            self._tokens = {known: expiry for known, expiry in self._tokens.items() if expiry > now - ttl - 3600}
            self._tokens[token] = now + ttl
        return {"access_token": token, "token_type": "Bearer", "expires_in": int(ttl) if ttl == int(ttl) else ttl}
