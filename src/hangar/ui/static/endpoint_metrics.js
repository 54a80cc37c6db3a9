// Endpoint page: the gateway's request metrics, polled every 2 s from the page's JSON read
// and drawn with uPlot: requests and errors per second, latency p50/p90/p99, over the
// samples the server kept while the page was watched (a reload keeps the chart). The numbers
// above the charts are since the server started.
(function () {
  "use strict";
  var EVERY = 2000;
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
  function series(history) {
    var rows = { t: [], rate: [], errors: [], p50: [], p90: [], p99: [] };
    for (var i = 1; i < history.length; i++) {
      var a = history[i - 1], b = history[i], dt = Math.max(0.001, b.t - a.t);
      var l = b.latencyMs || {};
      rows.t.push(b.t);
      rows.rate.push(Math.max(0, b.requests - a.requests) / dt);
      rows.errors.push(Math.max(0, b.errors - a.errors) / dt);
      rows.p50.push(l.p50); rows.p90.push(l.p90); rows.p99.push(l.p99);
    }
    return rows;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("metrics");
    if (!root) { return; }
    var rate = chart(document.getElementById("rate-chart"), "Requests per second",
                     ["requests/s", "errors/s"], ["#1f77b4", "#d62728"]);
    var latency = chart(document.getElementById("latency-chart"), "Latency (ms)",
                        ["p50", "p90", "p99"], ["#2ca02c", "#ff7f0e", "#9467bd"]);
    function draw(m) {
      var l = m.latencyMs || {};
      text(root, "data-requests", m.requests);
      text(root, "data-errors", m.errors);
      text(root, "data-retries", m.retries);
      text(root, "data-in-flight", m.inFlight);
      text(root, "data-latency", [l.p50, l.p90, l.p99].map(function (v) {
        return v === null || v === undefined ? "–" : v;
      }).join(" / "));
      var rows = series(m.history || []);
      if (rate) { rate.setData([rows.t, rows.rate, rows.errors]); }
      if (latency) { latency.setData([rows.t, rows.p50, rows.p90, rows.p99]); }
      root.dataset.samples = String(rows.t.length);
      root.dataset.peak = String(rows.rate.length ? Math.max.apply(null, rows.rate) : 0);
    }
    function poll() {
      if (document.hidden) { setTimeout(poll, EVERY); return; }
      fetch(root.dataset.metrics, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (m) { if (m) { draw(m); } })
        .catch(function () {})
        .then(function () { setTimeout(poll, EVERY); });
    }
    poll();
  });
})();
