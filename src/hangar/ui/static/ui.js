// Live session status: one EventSource per page on the element marked data-live; each
// "session" event sets the status badge of the rows that carry the session's id. A session
// the list does not show yet makes the list reload its table (htmx, when installed).
(function () {
  "use strict";
  function setStatus(data) {
    var rows = document.querySelectorAll('[data-session-id="' + data.id + '"]');
    rows.forEach(function (row) {
      var badge = row.querySelector("[data-status]");
      if (badge) {
        badge.textContent = data.status;
        badge.className = "status s-" + data.status.toLowerCase();
      }
    });
    return rows.length;
  }
  function reloadTable() {
    var table = document.getElementById("session-table");
    if (table && window.htmx) {
      window.htmx.ajax("GET", window.location.pathname + window.location.search,
                       { target: "#session-table", swap: "outerHTML" });
    }
  }
  function connect(url) {
    var source = new EventSource(url);
    source.addEventListener("session", function (message) {
      var data = JSON.parse(message.data);
      if (setStatus(data) === 0) { reloadTable(); }
    });
    source.addEventListener("snapshot", function (message) {
      setStatus(JSON.parse(message.data));  // statuses as of the subscription
    });
    document.documentElement.dataset.live = "connected";
    source.onopen = function () { document.documentElement.dataset.live = "open"; };
  }
  document.addEventListener("DOMContentLoaded", function () {
    var live = document.querySelector("[data-live]");
    if (live && window.EventSource) { connect(live.getAttribute("data-live")); }
  });
})();
