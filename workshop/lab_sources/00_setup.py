# Lab 00 source: setup and the practice service. `workshop build-labs` makes the notebooks.

# %% [markdown]
# # Lab 00 · Setup and the practice service
#
# **Goal:** get Spark and the practice service running, look around the service's API, and
# write the one helper every later lab leans on: a safe JSON GET.
#
# **Time:** 15 minutes.
#
# You will build a connector for a realistic HTTP service, one layer per lab. Every lab
# starts from the reference code of the earlier labs, so if you get stuck you can still do
# the next one. Each lab ends with a **check** cell that runs your code for real and says
# what is right and what is not.

# %% [markdown]
# ## Setup
#
# The first cell of every lab is one line. It imports the course kit (`labs/workshop` finds it in
# the course folder above the labs, or the installed course for a copy of the labs elsewhere),
# starts Spark (locally it attaches to a warm Spark when `workshop lab` or `workshop run` keeps
# one), starts (or reuses) the practice service on this machine (on Databricks: on the cluster's
# driver, where the executors reach it over loopback), and says where it runs and which of the
# lab's Spark-version branches apply there. On a Databricks cluster it also installs the
# course's current wheel, restarting Python when the wheel changed: run the cell again then.
# Run it again whenever you like, including after a restart.

# %%
# %setup

# %% [markdown]
# ## The picture
#
# ![Spark and the practice service](images/architecture.svg)
#
# A Python data source has two halves. On the **driver**, Spark asks it for a schema and a
# list of partitions, and at the end of a write it commits. On the **executors**, each task
# reads one partition (or writes one slice of the data) by talking to the service itself.
# So everything a task needs must travel with the task: options, not global state.
#
# The practice service is a real HTTP server with deterministic data. Its API is in
# `docs/practice_service.md`; here is a first look.

# %%
import requests

print(requests.get(f"{lab.url}/health", timeout=10).json())
schema = requests.get(f"{lab.url}/v1/schema/events", timeout=10).json()
print(schema["ddl"])

# %% [markdown]
# ## Your task: a safe JSON GET
#
# Write `get_json(base_url, path, params=None, timeout=(5, 30))` that returns the decoded
# JSON body of `GET base_url + path`. Three rules make it safe:
#
# 1. **Always pass a timeout.** Without one, a stuck server hangs your Spark task forever.
# 2. **Check `response.status_code`** (or call `response.raise_for_status()`): any 4xx or 5xx
#    must raise. Never test `if response:`; a falsy response is easy to mistake for "no
#    data", and code that returns `None` on an error silently loses rows.
# 3. **Put the service's own message in the error.** The service answers errors with JSON
#    `{"error": ..., "message": ...}`; the message says exactly what was wrong. A proxy in front
#    of a service may answer with an HTML page instead: then the error carries the body's text,
#    and still says the status (never a JSON decoding error in its place).
#
# Stuck? `lab.hint("get_json")` gives a hint; run it again for the next one (there are three:
# the idea, the pitfall, then nearly the answer).

# %%
import requests


def get_json(base_url, path, params=None, timeout=(5, 30)):
    """GET base_url + path; return the decoded JSON, or raise with the service's message."""
    # BEGIN SOLUTION: GET with the caller's params and timeout; on an error status raise the service's message
    response = requests.get(base_url + path, params=params, timeout=timeout)
    if response.status_code >= 400:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        raise RuntimeError(f"GET {path} failed with HTTP {response.status_code}: {message}")
    return response.json()
    # END SOLUTION


# %%
stats = get_json(lab.url, "/v1/events/stats")
stats

# %% [markdown]
# ## Check
#
# The check calls your `get_json` against the practice service: normal answers, a missing
# path, a bad parameter, and two services of its own: one that fails every request with HTTP
# 500 and one that answers only after 2 seconds (called with a timeout of a quarter second).

# %%
from workshop.checks import check_lab

check_lab("00", get_json=get_json, url=lab.url)

# %% [markdown]
# ## Stretch
#
# Ask for `/v1/events?start=...&end=...&limit=1000` with and without the header
# `Accept-Encoding: gzip` and compare `len(response.content)` with
# `response.headers.get("Content-Length")`. What does `requests` do for you?
#
# ## Recap
#
# - The driver plans, the executors do the I/O; tasks carry their options with them.
# - Every HTTP call has a timeout and checks the status code; errors carry the service's message.
# - The practice service is deterministic: every later check compares your reads with ground truth.
