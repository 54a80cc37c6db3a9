// Folder uploads with tus-js-client. For each chosen file the page asks the UI for an upload
// session (a token bound to the path and size), then sends the bytes in chunks to the
// server's tus endpoint. The session's URL is kept in localStorage under the file's
// fingerprint, so choosing the same file again after a failure (or a reload) resumes at
// the offset the server holds instead of starting over.
(function () {
  "use strict";
  var CHUNK = 4 * 1024 * 1024;
  var PREFIX = "hangar-upload:";

  function fingerprint(box, file) {
    return PREFIX + [box.dataset.folder, box.dataset.path, file.name, file.size,
                     file.lastModified].join("|");
  }

  function show(box, text, percent) {
    var bar = box.querySelector("#upload-progress");
    box.querySelector("#upload-status").textContent = text;
    if (percent !== null) {
      bar.hidden = false;
      bar.setAttribute("value", String(percent));
    }
  }

  function askSession(box, file) {
    var path = box.dataset.path ? box.dataset.path + "/" + file.name : file.name;
    return fetch(box.dataset.sessionUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": box.dataset.csrf },
      body: JSON.stringify({ path: path, size: file.size })
    }).then(function (response) {
      var json = (response.headers.get("Content-Type") || "").indexOf("json") >= 0;
      if (!json) {  // an error page: signed out, or the CSRF check failed
        throw new Error("HTTP " + response.status + ": reload the page (sign in again)");
      }
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(body.error || ("HTTP " + response.status)); }
        return body.url;
      });
    });
  }

  function sessionUrl(box, file) {
    var kept = window.localStorage.getItem(fingerprint(box, file));
    if (kept) { return Promise.resolve({ url: kept, kept: true }); }
    return askSession(box, file).then(function (url) {
      window.localStorage.setItem(fingerprint(box, file), url);
      return { url: url, kept: false };
    });
  }

  function isGone(error) {
    var response = error && error.originalResponse;
    return response && response.getStatus() === 404;
  }

  function send(box, file, label) {
    return sessionUrl(box, file).then(function (session) {
      return new Promise(function (resolve, reject) {
        var upload = new window.tus.Upload(file, {
          uploadUrl: session.url,
          chunkSize: CHUNK,
          retryDelays: [0, 1000],
          storeFingerprintForResuming: false,
          onProgress: function (sent, total) {
            var percent = total ? Math.floor((sent * 100) / total) : 100;
            show(box, label + file.name + ": " + percent + " %", percent);
          },
          onSuccess: function () {
            window.localStorage.removeItem(fingerprint(box, file));
            resolve();
          },
          onError: function (error) {
            if (session.kept && isGone(error)) {  // expired or finished: start afresh once
              window.localStorage.removeItem(fingerprint(box, file));
              send(box, file, label).then(resolve, reject);
              return;
            }
            reject(error);
          }
        });
        window.hangarUpload = upload;
        upload.start();
      });
    });
  }

  // The file table as the server lists it now (the page stays: its upload state too).
  function refreshTable() {
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("file-table");
        var table = document.getElementById("file-table");
        if (fresh && table) { table.replaceWith(fresh); }
      });
  }

  function uploadAll(box, files) {
    var index = 0;
    function next() {
      if (index >= files.length) {
        show(box, "Uploaded " + files.length + " file(s).", 100);
        box.dataset.state = "done";
        refreshTable();
        return;
      }
      var file = files[index++];
      var label = files.length > 1 ? "(" + index + "/" + files.length + ") " : "";
      send(box, file, label).then(next, function (error) {
        box.dataset.state = "failed";
        var why = (error && error.message) || String(error);
        show(box, "Upload of " + file.name + " interrupted: " + why +
             ". Choose Upload again to resume.", null);
      });
    }
    box.dataset.state = "uploading";
    next();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("upload");
    if (!box) { return; }
    var form = box.querySelector("#upload-form");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!window.tus) {
        show(box, "Uploads need the tus-js-client library: run `npm ci --prefix src/hangar/ui`.", null);
        return;
      }
      uploadAll(box, Array.prototype.slice.call(form.querySelector("input[type=file]").files));
    });
  });
})();
