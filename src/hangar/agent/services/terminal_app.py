# mypy: ignore-errors
"""The web terminal service: run inside a kernel's sandbox, not imported by Hangar.

``python3 -c <this file> SOCKET SHELL...`` serves, on the Unix socket SOCKET, a page with an
xterm.js terminal (Debian's libjs-xterm) and terminado's WebSocket at ``/websocket``: one
shell per connection, as the work user. Needs tornado and terminado (Debian packages).
"""

import os
import sys

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web
from terminado import TermSocket, UniqueTermManager

# In a container image the host's copy is bound under /.hangar-host (see runtimes.rootfs).
XTERM_DIR = next(
    (
        d
        for d in ("/.hangar-host/xterm/xterm.js", "/usr/share/javascript/xterm/xterm.js")
        if os.path.isfile(d)
    ),
    "/usr/share/javascript/xterm/xterm.js",
).rpartition("/")[0]
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Terminal</title>
<link rel="stylesheet" href="xterm/xterm.css">
<style>html,body{margin:0;height:100%;background:#000}#t{height:100%}</style>
<script src="xterm/xterm.js"></script><script src="xterm/addons/fit/fit.js"></script>
</head><body><div id="t"></div><script>
Terminal.applyAddon(fit);
const term = new Terminal({cursorBlink: true});
term.open(document.getElementById("t"));
term.fit();
const url = location.href.replace(/^http/, "ws").replace(/[^/]*$/, "") + "websocket";
const ws = new WebSocket(url);
const size = () => ws.send(JSON.stringify(["set_size", term.rows, term.cols]));
ws.onopen = () => { size(); term.focus(); };
ws.onmessage = (e) => { const m = JSON.parse(e.data); if (m[0] === "stdout") term.write(m[1]); };
ws.onclose = () => term.write("\\r\\n[terminal closed]\\r\\n");
term.on("data", (d) => ws.send(JSON.stringify(["stdin", d])));
window.addEventListener("resize", () => { term.fit(); size(); });
</script></body></html>
"""


class Page(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(PAGE)


def main():
    socket_path, shell = sys.argv[1], sys.argv[2:] or ["/bin/bash"]
    manager = UniqueTermManager(shell_command=shell, max_terminals=32)
    app = tornado.web.Application(
        [
            (r"/", Page),
            (r"/websocket", TermSocket, {"term_manager": manager}),
            (r"/xterm/(.*)", tornado.web.StaticFileHandler, {"path": XTERM_DIR}),
        ]
    )
    server = tornado.httpserver.HTTPServer(app)
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    server.add_socket(tornado.netutil.bind_unix_socket(socket_path, mode=0o600))
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
