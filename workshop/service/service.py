"""PracticeService: the data, the write side and the HTTP(S) server, started and stopped together."""
import shutil
import threading
import time
from collections import Counter

from workshop.service import tls
from workshop.service.auth import Auth
from workshop.service.cache import Cache
from workshop.service.entities import Entities
from workshop.service.events import EventLog
from workshop.service.faults import Faults
from workshop.service.ring import Ring
from workshop.service.server import Server
from workshop.service.settings import normalize
from workshop.service.tables import Tables
from workshop.service.truth import Truth


class PracticeService:
    """The practice service. `with PracticeService(seed=7) as service:` serves on service.url."""

    def __init__(self, **settings):
        self.settings = normalize(**settings)
        seed = self.settings["seed"]
        self.events = EventLog(seed, self.settings["events"], self.settings["malformed_rate"])
        self.entities = Entities(seed, self.settings["entities"])
        self.ring = Ring(seed, self.settings["ring_rows"], self.settings["ring_nodes"])
        self.tables = Tables()
        self.cache = Cache(self.settings["cache_mb"] * 1024 * 1024)
        self.auth = Auth(self.settings)
        self.faults = Faults(seed, self.settings["fault_rate"], self.settings["fault_kinds"])
        self.truth = Truth(self)
        self._requests = Counter()  # (method, path) -> requests received, answered or not
        self._requests_lock = threading.Lock()
        self.url = None
        self.ca_file = None
        self._tls_dir = None
        self._server = None
        self._threads = []
        self._stopping = threading.Event()

    def __repr__(self):
        state = f"serving on {self.url}" if self.running else "stopped"
        return f"<PracticeService seed={self.settings['seed']} {state}>"

    @property
    def running(self):
        return self._server is not None

    @property
    def port(self):
        return self._server.server_port if self._server else None

    @property
    def credentials(self):
        """The credentials the service accepts, for the connector's options."""
        return {name: self.settings[name] for name in ("api_key", "username", "password", "client_id", "client_secret")}

    def start(self):
        if self._server is not None:
            return self
        context = None
        if self.settings["tls"]:
            self._tls_dir = tls.generate(hosts=("127.0.0.1", "localhost", "::1", self.settings["host"]))
            self.ca_file = f"{self._tls_dir}/ca.pem"
            context = tls.server_context(self._tls_dir)
        host = self.settings["host"]
        self._server = Server(host, self.settings["port"], self, context)
        shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        shown = f"[{shown}]" if ":" in shown else shown
        self.url = f"{'https' if context else 'http'}://{shown}:{self._server.server_port}"
        self._stopping.clear()
        self._threads = [threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                          name="practice-service", daemon=True)]
        if self.settings["feed_rate"] > 0:
            self._threads.append(threading.Thread(target=self._grow_feed, name="practice-feed", daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._tls_dir:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
            self._tls_dir = self.ca_file = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def count_request(self, method, path):
        with self._requests_lock:
            self._requests[(method, path)] += 1

    def request_counts(self):
        """(method, path) -> how many such requests the service received (a copy)."""
        with self._requests_lock:
            return Counter(self._requests)

    def append_events(self, count):
        """Append `count` events to the feed (new seqs); returns the latest seq."""
        return self.events.append(count)

    def set_faults(self, rate=None, kinds=None):
        """Change the fault rate and/or kinds while running; occurrence counts start again."""
        changed = normalize(**{**self.settings, **({} if rate is None else {"fault_rate": rate}),
                               **({} if kinds is None else {"fault_kinds": kinds})})
        self.settings["fault_rate"], self.settings["fault_kinds"] = changed["fault_rate"], changed["fault_kinds"]
        self.faults.configure(changed["fault_rate"], changed["fault_kinds"])

    def _grow_feed(self):
        started, appended = time.monotonic(), 0
        while not self._stopping.wait(0.1):
            due = int((time.monotonic() - started) * self.settings["feed_rate"])
            if due > appended:
                self.events.append(due - appended)
                appended = due


_running = None
_running_lock = threading.Lock()


def ensure_running(**settings):
    """One service per Python process: the running one when its settings match, else a new one."""
    global _running
    wanted = normalize(**settings)
    with _running_lock:
        if _running is not None and _running.running:
            current = _running.settings  # includes fault changes made with set_faults
            port = wanted["port"] or current["port"]  # port 0 asks for any port
            if {**current, "port": port} == {**wanted, "port": port}:
                return _running
            _running.stop()
        _running = PracticeService(**settings).start()
        return _running


def serve_forever(**settings):
    """Run a service in the foreground, print its URL, and serve until Ctrl-C."""
    with PracticeService(**settings) as service:
        auth = ", ".join(service.settings["auth"] or ()) or "none"
        print(f"Practice service running at {service.url} (seed {service.settings['seed']}, "
              f"{service.events.latest} events, auth: {auth}{', CA file ' + service.ca_file if service.ca_file else ''})",
              flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping", flush=True)
