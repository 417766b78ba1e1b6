"""A page and a WebSocket echo at ``/echo``, with the standard library only (any python3 runs it).

``python3 serve.py PORT [SECONDS]``: serves on every address of the node (the landing zone
connects to the node the job runs on) for SECONDS (default: until the job is stopped).
"""

import base64
import hashlib
import http.server
import socketserver
import struct
import sys
import threading

PAGE = b"""<!doctype html><title>lz port example</title>
<h1 id="title">Hello from inside the job</h1>
<p>Echo: <span id="echo">(waiting)</span></p>
<script>
const ws = new WebSocket(location.href.replace(/^http/, "ws").replace(/\\/[^\\/]*$/, "/echo"));
ws.onopen = () => ws.send("ping through the tunnel");
ws.onmessage = (e) => { document.getElementById("echo").textContent = e.data; };
</script>
"""
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_frame(rfile):
    """(opcode, payload) of one client frame (masked, as clients must), or None at the end."""
    head = rfile.read(2)
    if len(head) < 2:
        return None
    opcode, size = head[0] & 0x0F, head[1] & 0x7F
    if size == 126:
        size = struct.unpack(">H", rfile.read(2))[0]
    elif size == 127:
        size = struct.unpack(">Q", rfile.read(8))[0]
    mask = rfile.read(4)
    data = bytearray(rfile.read(size))
    for i in range(len(data)):
        data[i] ^= mask[i % 4]
    return opcode, bytes(data)


def frame(opcode, data):
    size = len(data)
    if size < 126:
        head = struct.pack(">BB", 0x80 | opcode, size)
    elif size < 65536:
        head = struct.pack(">BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 127, size)
    return head + data


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/echo") and self.headers.get("Upgrade", "").lower() == "websocket":
            return self.echo()
        body = PAGE if self.path in ("/", "/index.html") else b"not here\n"
        self.send_response(200 if body is PAGE else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def echo(self):
        key = self.headers["Sec-WebSocket-Key"].encode()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            got = read_frame(self.rfile)
            if got is None or got[0] == 0x8:  # closed
                self.wfile.write(frame(0x8, b"\x03\xe8"))
                break
            opcode, data = got
            if opcode == 0x9:  # ping
                self.wfile.write(frame(0xA, data))
            elif opcode in (0x1, 0x2):
                self.wfile.write(frame(opcode, b"echo: " + data))
            self.wfile.flush()
        self.close_connection = True


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    port = int(sys.argv[1])
    server = Server(("", port), Handler)
    if len(sys.argv) > 2:
        threading.Timer(float(sys.argv[2]), server.shutdown).start()
    print(f"serving on port {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
