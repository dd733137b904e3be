"""A local OTLP/HTTP receiver for bench/run.sh's token-traced scenario: answers every
POST /v1/traces with 200 (an empty ExportTraceServiceResponse) and, when stopped,
prints how many exports and bytes it took, so the run shows spans really left tessera.

    python3 bench/otlp_sink.py PORT
"""
import http.server
import signal
import sys

exports = 0
received = 0


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global exports, received
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        ok = self.path == "/v1/traces" and self.headers.get("Content-Type") == "application/x-protobuf"
        if ok:
            exports += 1
            received += len(body)
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def stop(*_):
    print(f"otlp sink: {exports} exports, {received} bytes", file=sys.stderr, flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
