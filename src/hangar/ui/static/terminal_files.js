// The session Files tab: the upload form is sent by XMLHttpRequest so the page can show how
// much has gone up (a <progress> bar and a percentage). The server answers as it does for
// the plain form: the listing after a redirect, or the listing with the refusal.
(function () {
  "use strict";
  function showAnswer(xhr, status) {
    if (xhr.status >= 200 && xhr.status < 300 && xhr.responseURL.indexOf("/files") >= 0
        && !/role="alert"/.test(xhr.responseText)) {
      window.location.assign(xhr.responseURL);
      return;
    }
    var found = new DOMParser().parseFromString(xhr.responseText, "text/html")
      .querySelector('[role="alert"]');
    status.textContent = found ? found.textContent : "The upload failed (HTTP " + xhr.status + ").";
    status.className = "error";
  }
  function send(form, bar, status) {
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.onprogress = function (event) {
      if (!event.lengthComputable) { return; }
      bar.max = event.total;
      bar.value = event.loaded;
      var seen = Number(bar.dataset.updates || "0") + 1;
      bar.dataset.updates = String(seen);
      status.textContent = "Uploading… " + Math.floor(100 * event.loaded / event.total) + "%";
    };
    xhr.onload = function () { bar.dataset.state = "sent"; showAnswer(xhr, status); };
    xhr.onerror = function () {
      bar.dataset.state = "failed";
      status.textContent = "The upload failed: the connection broke.";
      status.className = "error";
    };
    bar.hidden = false;
    bar.dataset.state = "sending";
    xhr.send(new FormData(form));
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("scratch-upload");
    if (!form || !window.FormData) { return; }
    var bar = document.getElementById("scratch-progress");
    var status = document.getElementById("scratch-upload-status");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send(form, bar, status);
    });
  });
})();
