"""Stand-ins for the platform credential APIs, for local practice and tests.

On a Databricks cluster the connector's `serviceCredential` option calls
`databricks.service_credentials.getServiceCredentialsProvider(name)`; with `cloudCredential`
it calls `azure.identity.DefaultAzureCredential(authority=...)`. Neither reaches a real cloud
from a laptop or this course's tests. This module offers both names with the same shape, and
its providers get real tokens from the practice service's OAuth2 endpoint, so everything after
the import (scopes, the sovereign-cloud authority, token expiry, caching, refresh on 401, the
bearer header, secret redaction) runs for real, on the driver and in Spark's Python workers:

    from workshop import standin_credentials
    standin_credentials.register("practice-credential", service.url, **client)  # client_id, client_secret
    (spark.read.format("practice")
        .option("serviceCredential", "practice-credential")
        .option("tokenScope", "api://practice/.default")
        .option("credentialModule", "workshop.standin_credentials")
        ...)

Registrations are small JSON files (mode 0600) in a directory that Python workers on the same
machine read too: `$WORKSHOP_CREDENTIALS_DIR`, else `<tmp>/workshop-standin-credentials-<uid>`.
`DefaultAzureCredential` uses the registration named `DEFAULT`. Each call is recorded (API,
name, authority, scope, process id; never a secret) so tests can check what the connector asked.
"""
import json
import os
import tempfile
import time
import urllib.parse
import urllib.request
from collections import namedtuple

DEFAULT = "default-azure-credential"

# The shape of azure.core.credentials.AccessToken: the token and its expiry in epoch seconds.
AccessToken = namedtuple("AccessToken", ["token", "expires_on"])


def directory():
    path = os.environ.get("WORKSHOP_CREDENTIALS_DIR") or os.path.join(
        tempfile.gettempdir(), f"workshop-standin-credentials-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    )
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _file(name):
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return os.path.join(directory(), f"{safe}.json")


def register(name, service_url, client_id, client_secret, **_ignored):
    """Make `name` a credential whose tokens come from the practice service at `service_url`.

    Pass `**service.credentials`: extra keys (api_key, username, password) are ignored.
    """
    entry = {"token_url": service_url.rstrip("/") + "/oauth/token", "client_id": client_id, "client_secret": client_secret}
    path = _file(name)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(entry, out)
    return name


def register_default(service_url, client_id, client_secret, **_ignored):
    """The registration `DefaultAzureCredential` uses."""
    return register(DEFAULT, service_url, client_id, client_secret)


def unregister(name):
    try:
        os.remove(_file(name))
    except FileNotFoundError:
        pass


def calls():
    """Every recorded call, oldest first: dicts with api, name, authority, scope, pid."""
    try:
        with open(os.path.join(directory(), "calls.jsonl")) as lines:
            return [json.loads(line) for line in lines if line.strip()]
    except FileNotFoundError:
        return []


def clear_calls():
    try:
        os.remove(os.path.join(directory(), "calls.jsonl"))
    except FileNotFoundError:
        pass


def _record(**call):
    with open(os.path.join(directory(), "calls.jsonl"), "a") as out:
        out.write(json.dumps({**call, "pid": os.getpid()}) + "\n")


class StandinCredential:
    """A provider with `get_token(*scopes)`, like azure-identity credentials and the Azure
    provider Databricks returns for a service credential."""

    def __init__(self, name, authority=None):
        self.name = name
        self.authority = authority
        try:
            with open(_file(name)) as entry:
                self._entry = json.load(entry)
        except FileNotFoundError:
            raise LookupError(f"no stand-in credential named {name!r}; register it with workshop.standin_credentials.register") from None

    def __repr__(self):
        return f"StandinCredential({self.name!r})"

    def get_token(self, *scopes, **_kwargs):
        _record(api="get_token", name=self.name, authority=self.authority, scope=" ".join(scopes))
        entry = self._entry
        form = urllib.parse.urlencode(
            {"grant_type": "client_credentials", "client_id": entry["client_id"], "client_secret": entry["client_secret"],
             "scope": " ".join(scopes)}
        ).encode()
        request = urllib.request.Request(entry["token_url"], data=form, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        return AccessToken(answer["access_token"], int(time.time() + float(answer["expires_in"])))


def getServiceCredentialsProvider(name):  # noqa: N802 - the Databricks API's spelling
    """Stand-in for `databricks.service_credentials.getServiceCredentialsProvider`."""
    _record(api="getServiceCredentialsProvider", name=name, authority=None, scope=None)
    return StandinCredential(name)


def DefaultAzureCredential(authority=None, **_kwargs):  # noqa: N802 - azure.identity's spelling
    """Stand-in for `azure.identity.DefaultAzureCredential`, using the `DEFAULT` registration."""
    _record(api="DefaultAzureCredential", name=DEFAULT, authority=authority, scope=None)
    return StandinCredential(DEFAULT, authority)
