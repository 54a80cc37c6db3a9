// Queues page charts (uPlot): each queue's length and wait over the last day, and each
// worker's machine stats over the last hour, from one JSON read.
(function () {
  "use strict";
  function chart(box, title, dates, series, width) {
    var opts = {
      title: title, width: width, height: 160,
      scales: { x: { time: true } },
      series: [{}].concat(series.map(function (s, i) {
        return { label: s.label, stroke: ["#1f77b4", "#ff7f0e"][i % 2], scale: s.scale || "y",
                 points: { show: dates.length < 3 } };
      })),
      axes: [{}, { scale: series[0].scale || "y" }].concat(series.length > 1 && series[1].scale ?
        [{ scale: series[1].scale, side: 1, grid: { show: false } }] : []),
    };
    return new window.uPlot(opts, [dates].concat(series.map(function (s) { return s.values; })), box);
  }
  function draw(data, root) {
    data.queues.forEach(function (q) {
      var box = document.querySelector('.queue-chart[data-queue="' + q.id + '"]');
      if (!box || !q.dates.length) { return; }
      chart(box, "Length and wait", q.dates, [
        { label: "length", values: q.lengths, scale: "n" },
        { label: "wait (s)", values: q.waits, scale: "s" }], Math.max(280, box.clientWidth));
      box.dataset.drawn = "1";
    });
    data.workers.forEach(function (w) {
      var box = document.createElement("div");
      box.className = "worker-chart";
      box.dataset.worker = w.name;
      root.appendChild(box);
      chart(box, w.name + ": " + w.metric + (w.variant ? " " + w.variant : ""), w.dates,
            [{ label: w.metric, values: w.values }], Math.max(280, root.clientWidth / 2 - 12));
    });
    root.dataset.drawn = "1";
  }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("worker-charts");
    if (!root || !window.uPlot) { return; }
    fetch(root.dataset.charts, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) { draw(data, root); });
  });
})();
