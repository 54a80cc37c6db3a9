// The session terminal: xterm.js bound to the UI's terminal WebSocket. Keys go up as JSON
// "stdin" frames, the window size as "resize" frames; the shell's output comes down as
// binary frames written to the terminal as they arrive.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("terminal");
    var state = document.getElementById("terminal-state");
    if (!box || !window.Terminal) { return; }
    var term = new window.Terminal({ cursorBlink: true, convertEol: false });
    var fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(box);
    fit.fit();
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + box.dataset.socket);
    socket.binaryType = "arraybuffer";
    function send(frame) {
      if (socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(frame)); }
    }
    function resize() { send({ type: "resize", rows: term.rows, cols: term.cols }); }
    socket.onopen = function () {
      state.textContent = "Connected.";
      box.dataset.state = "open";
      resize();
      term.focus();
    };
    socket.onmessage = function (event) {
      if (typeof event.data === "string") { term.write(event.data); }
      else { term.write(new Uint8Array(event.data)); }
    };
    socket.onclose = function (event) {
      box.dataset.state = "closed";
      state.textContent = "Terminal closed" + (event.reason ? ": " + event.reason : ".");
      term.write("\r\n[terminal closed]\r\n");
    };
    term.onData(function (data) { send({ type: "stdin", data: data }); });
    window.addEventListener("resize", function () { fit.fit(); resize(); });
    window.hangarTerminal = term;
  });
})();
