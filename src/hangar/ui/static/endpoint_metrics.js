// Endpoint page: the gateway's request metrics, polled every 2 s from the page's JSON read
// and drawn with uPlot (requests per second and errors per second; latency p50/p90/p99)
// from the moment the page opened; the numbers above the charts are since the server started.
(function () {
  "use strict";
  var KEEP = 300, EVERY = 2000;
  function text(root, name, value) {
    var el = root.querySelector("[" + name + "]");
    if (el) { el.textContent = value; }
  }
  function chart(box, title, labels, colours) {
    if (!window.uPlot || !box) { return null; }
    var opts = {
      title: title, width: Math.max(280, box.clientWidth || 600), height: 180,
      scales: { x: { time: true } },
      series: [{}].concat(labels.map(function (label, i) {
        return { label: label, stroke: colours[i], points: { show: true, size: 4 } };
      })),
    };
    return new window.uPlot(opts, [[]].concat(labels.map(function () { return []; })), box);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("metrics");
    if (!root) { return; }
    var rate = chart(document.getElementById("rate-chart"), "Requests per second",
                     ["requests/s", "errors/s"], ["#1f77b4", "#d62728"]);
    var latency = chart(document.getElementById("latency-chart"), "Latency (ms)",
                        ["p50", "p90", "p99"], ["#2ca02c", "#ff7f0e", "#9467bd"]);
    var rows = { t: [], rate: [], errors: [], p50: [], p90: [], p99: [] }, last = null;
    function push(key, value) {
      rows[key].push(value);
      if (rows[key].length > KEEP) { rows[key].shift(); }
    }
    function sample(m) {
      var now = Date.now() / 1000, l = m.latencyMs || {};
      text(root, "data-requests", m.requests);
      text(root, "data-errors", m.errors);
      text(root, "data-retries", m.retries);
      text(root, "data-in-flight", m.inFlight);
      text(root, "data-latency", [l.p50, l.p90, l.p99].map(function (v) {
        return v === null || v === undefined ? "–" : v;
      }).join(" / "));
      if (last !== null) {
        var dt = Math.max(0.001, now - last.t);
        push("t", now);
        push("rate", (m.requests - last.requests) / dt);
        push("errors", (m.errors - last.errors) / dt);
        push("p50", l.p50); push("p90", l.p90); push("p99", l.p99);
        if (rate) { rate.setData([rows.t, rows.rate, rows.errors]); }
        if (latency) { latency.setData([rows.t, rows.p50, rows.p90, rows.p99]); }
        root.dataset.samples = String(rows.t.length);
        root.dataset.peak = String(Math.max.apply(null, rows.rate));
      }
      last = { t: now, requests: m.requests, errors: m.errors };
    }
    function poll() {
      fetch(root.dataset.metrics, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (m) { if (m) { sample(m); } })
        .catch(function () {})
        .then(function () { setTimeout(poll, EVERY); });
    }
    poll();
  });
})();
