"""The practice service: a real HTTP(S) API with deterministic data, for the connector to talk to.

    from workshop.service import PracticeService
    with PracticeService(seed=7, events=20_000) as service:
        print(service.url, service.truth.count("events"))

API reference: docs/practice_service.md.
"""
from workshop.service.service import PracticeService, ensure_running, serve_forever
from workshop.service.settings import DEFAULTS, add_arguments, settings_from_args

__all__ = ["PracticeService", "ensure_running", "serve_forever", "add_arguments", "settings_from_args", "DEFAULTS"]
