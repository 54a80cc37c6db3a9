// Scalar charts of the experiment pages (uPlot): one chart per metric, a series per variant
// (per task and variant when comparing). The series come as columns from the element's
// data-scalars URL and are drawn in one pass; smoothing re-uses the loaded columns, the x
// axis (iteration or time) is fetched again. Plots are Plotly figures from #plot-data.
(function () {
  "use strict";
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"];
  var state = { x: "iter", samples: "", smoothing: 0, log: false, loaded: null, charts: [] };

  function smooth(ys, weight) {  // debiased exponential moving average (nulls kept as gaps)
    if (!weight) { return ys; }
    var out = new Array(ys.length), last = 0, n = 0;
    for (var i = 0; i < ys.length; i++) {
      var y = ys[i];
      if (y === null || !isFinite(y)) { out[i] = null; continue; }
      last = last * weight + (1 - weight) * y; n++;
      out[i] = last / (1 - Math.pow(weight, n));
    }
    return out;
  }
  function sameX(series) {
    var xs = series[0].x;
    for (var s = 1; s < series.length; s++) {
      var other = series[s].x;
      if (other.length !== xs.length) { return false; }
      for (var i = 0; i < xs.length; i++) { if (other[i] !== xs[i]) { return false; } }
    }
    return true;
  }
  function columns(chart) {  // [x, y1, y2, ...] for uPlot, variants on one x
    var series = chart.series, scale = state.x === "time" ? 0.001 : 1;
    var table;
    if (sameX(series)) {
      table = [series[0].x].concat(series.map(function (s) { return s.y; }));
    } else {
      table = window.uPlot.join(series.map(function (s) { return [s.x, s.y]; }));
    }
    var out = [scale === 1 ? table[0] : table[0].map(function (v) { return v * scale; })];
    for (var k = 1; k < table.length; k++) {
      var ys = smooth(table[k], state.smoothing);
      if (state.log) { ys = ys.map(function (v) { return v > 0 ? v : null; }); }
      out.push(ys);
    }
    return out;
  }
  function markDrawn(root) {
    var drawn = 0;
    return function () {
      drawn++;
      if (drawn === 1) {
        root.dataset.drawn = String(Number(root.dataset.drawn || 0) + 1);
        if (Number(root.dataset.drawn) === state.charts.length) {
          window.chartsDrawnAt = performance.now();
          root.setAttribute("aria-busy", "false");
        }
      }
    };
  }
  function options(chart, root, width) {
    var series = [{ label: state.x === "time" ? "time" : "iteration" }];
    chart.series.forEach(function (s, i) {
      series.push({ label: s.label, stroke: COLORS[i % COLORS.length], width: 1,
                    spanGaps: false, points: { show: false } });
    });
    return {
      title: chart.metric, width: width, height: 280, series: series,
      scales: { x: { time: state.x === "time" }, y: { distr: state.log ? 3 : 1 } },
      cursor: { drag: { x: true, y: false } },
      hooks: { draw: [markDrawn(root)] },
    };
  }
  function drawAll() {
    var root = document.getElementById("charts");
    state.charts.forEach(function (u) { u.destroy(); });
    state.charts = [];
    root.textContent = "";
    root.dataset.drawn = "0";
    var charts = state.loaded.charts;
    if (!charts.length) {
      root.innerHTML = '<p class="empty">No scalars.</p>';
      root.setAttribute("aria-busy", "false");
      return;
    }
    var width = Math.max(300, root.clientWidth - 8);
    var pending = charts.map(function () { return null; });
    state.charts = pending;
    charts.forEach(function (chart, i) {
      var box = document.createElement("div");
      box.className = "chart";
      box.dataset.metric = chart.metric;
      root.appendChild(box);
      state.charts[i] = new window.uPlot(options(chart, root, width), columns(chart), box);
    });
  }
  function resmooth() {
    state.charts.forEach(function (u, i) { u.setData(columns(state.loaded.charts[i])); });
  }
  function note(loaded) {
    // The compare page downsamples many long series by itself: say so, and how to see all.
    var where = document.getElementById("points-note");
    if (!where) { return; }
    where.dataset.samples = loaded.samples ? String(loaded.samples) : "";
    where.textContent = loaded.auto && loaded.samples ?
      "Many long series: each drawn with at most " + loaded.samples.toLocaleString("en") +
      " points (averaged over equal intervals). Choose “All” to load every point." : "";
  }
  function load(root) {
    var url = root.dataset.scalars;
    root.setAttribute("aria-busy", "true");
    var sep = url.indexOf("?") >= 0 ? "&" : "?";
    var query = "x=" + state.x + (state.samples ? "&samples=" + state.samples : "");
    return fetch(url + sep + query, { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error("scalars: HTTP " + r.status); }
        return r.json();
      })
      .then(function (loaded) { state.loaded = loaded; note(loaded); drawAll(); })
      .catch(function (err) { root.textContent = String(err); root.classList.add("error"); });
  }
  function tools(root) {
    var form = document.getElementById("chart-tools");
    if (!form) { return; }
    form.querySelector("[name=x]").addEventListener("change", function (e) {
      state.x = e.target.value; load(root);
    });
    form.querySelector("[name=samples]").addEventListener("change", function (e) {
      state.samples = e.target.value; load(root);  // downsampled by the server, when asked
    });
    var slider = form.querySelector("[name=smoothing]"), shown = form.querySelector("output");
    var queued = false;
    slider.addEventListener("input", function () {
      state.smoothing = Number(slider.value); shown.textContent = slider.value;
      if (!queued) {
        queued = true;
        requestAnimationFrame(function () { queued = false; if (state.loaded) { resmooth(); } });
      }
    });
    form.querySelector("[name=log]").addEventListener("change", function (e) {
      state.log = e.target.checked; if (state.loaded) { drawAll(); }
    });
  }
  function plots() {
    var source = document.getElementById("plot-data"), list = document.getElementById("plot-list");
    if (!source || !list || !window.Plotly) { return; }
    JSON.parse(source.textContent).forEach(function (p) {
      var box = document.createElement("div");
      box.className = "plot";
      box.dataset.plot = p.metric + " / " + p.variant;
      list.appendChild(box);
      var fig = p.figure, layout = Object.assign({}, fig.layout || {});
      if (!layout.title) { layout.title = { text: p.metric + " / " + p.variant }; }
      window.Plotly.newPlot(box, fig.data || [], layout, { responsive: true, displaylogo: false })
        .then(function () { box.dataset.rendered = "1"; });
    });
  }
  function onlyDiff() {
    var box = document.getElementById("only-diff");
    if (!box) { return; }
    box.addEventListener("change", function () {
      document.querySelectorAll("table.diff").forEach(function (t) {
        t.classList.toggle("only-diff", box.checked);
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("charts");
    if (root && window.uPlot) { tools(root); load(root); }
    plots();
    onlyDiff();
  });
})();
