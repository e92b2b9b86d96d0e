"""The HTTP(S) server: stdlib ThreadingHTTPServer, HTTP/1.1 keep-alive, gzip, quiet logs."""
import json
import logging
import re
import socket
import socketserver
import ssl
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from workshop.service import api, media
from workshop.service.errors import ApiError

log = logging.getLogger("workshop.service")
MAX_BODY_BYTES = 64 * 1024 * 1024
_SECRET_IN_QUERY = re.compile(r"(api_key=)[^&\s'\"]*", re.IGNORECASE)


def redact(text):
    """Hide an API key given in a query string (request lines end up in logs)."""
    return _SECRET_IN_QUERY.sub(r"\1***", text)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PracticeService/1"
    sys_version = ""
    disable_nagle_algorithm = True  # small responses must not wait for delayed ACKs
    timeout = 120  # an idle keep-alive connection is closed after this many seconds

    def setup(self):
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()  # here, in the connection's thread, not in accept()

    def __getattr__(self, name):
        # Every method, known or not, goes through routing, which answers 405 where it must.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format, *args):
        log.debug("%s %s", self.address_string(), redact(format % args))

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (malformed request line, headers too long) as JSON."""
        self.close_connection = True
        self.request_version = "HTTP/1.1"  # answer with a status line even to a garbled request
        status = code if code < 500 else 400  # a malformed request is the client's fault
        detail = redact(message or "malformed HTTP request")
        self._respond(api.Response(status, json.dumps({"error": "bad_request", "message": detail}).encode()))

    def _read_body(self):
        headers = self.headers
        if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()
        else:
            text = headers.get("Content-Length")
            if text is None:
                return b""
            if not text.strip().isdigit():
                raise ApiError(400, "bad_request", "Content-Length must be a number", parameter="Content-Length")
            length = int(text)
            if length > MAX_BODY_BYTES:
                raise ApiError(413, "payload_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
            body = self.rfile.read(length)
            if len(body) < length:
                raise ApiError(400, "bad_request", "the body is shorter than Content-Length", parameter="Content-Length")
        encoding = (headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding == "gzip":
            try:
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                body = inflater.decompress(body, MAX_BODY_BYTES)
                if inflater.unconsumed_tail:
                    raise ApiError(413, "payload_too_large", f"the body inflates beyond {MAX_BODY_BYTES} bytes")
            except zlib.error:
                raise ApiError(400, "bad_request", "the body is not valid gzip", parameter="Content-Encoding") from None
        elif encoding != "identity":
            raise ApiError(415, "unsupported_media_type", "Content-Encoding must be gzip or identity",
                           parameter="Content-Encoding")
        return body

    def _read_chunked(self):
        chunks, total = [], 0
        while True:
            size_text = self.rfile.readline(1024).split(b";")[0].strip()
            if not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", size_text):
                raise ApiError(400, "bad_request", "malformed chunked body", parameter="Transfer-Encoding")
            size = int(size_text, 16)
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise ApiError(413, "payload_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _serve(self):
        try:
            body = self._read_body()
        except ApiError as error:
            self.close_connection = True  # the rest of the stream cannot be trusted
            self._respond(api.Response(error.status, json.dumps(error.body()).encode()))
            return
        split = urlsplit(self.path)
        response = api.handle(self.server.service, self.command, split.path, split.query, self.headers, body)
        if response.reset:
            self._reset()
        else:
            self._respond(response)

    def _reset(self):
        """Drop the connection with a TCP RST, as a crashed peer or a proxy would."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _respond(self, response):
        body, compressed = response.body, response.compressed  # pages come compressed (and cached) already
        headers = getattr(self, "headers", None)  # absent when the request line itself was bad
        if not compressed and body and headers is not None and media.accepts_gzip(headers.get("Accept-Encoding")):
            body, compressed = media.compress(body), True
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(body)))
            if compressed:
                self.send_header("Content-Encoding", "gzip")
            if "Vary" not in response.headers:
                self.send_header("Vary", "Accept-Encoding")
            for name, value in response.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:  # the client went away
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, host, port, service, ssl_context=None):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.service = service
        self._connections = set()
        self._connections_lock = threading.Lock()
        super().__init__((host, port), Handler)
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def server_bind(self):
        # HTTPServer.server_bind looks up the host's FQDN, which can take seconds; skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request_thread(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def handle_error(self, request, client_address):
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def close_connections(self):
        """Close open keep-alive connections, so stopping really ends every conversation."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
