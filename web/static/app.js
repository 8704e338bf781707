// Progressive enhancement of the upload form: drag-and-drop and a progress bar. Without
// JavaScript the form posts as usual.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  var drop = document.getElementById("drop");
  var input = document.getElementById("files");
  var bar = document.getElementById("progress");
  var text = document.getElementById("progress-text");
  ["dragenter", "dragover"].forEach(function (name) {
    drop.addEventListener(name, function (event) { event.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    drop.addEventListener(name, function () { drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) { input.files = event.dataTransfer.files; }
  });
  form.addEventListener("submit", function (event) {
    if (!input.files.length) { return; }
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    text.textContent = form.dataset.uploading;
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.value = Math.round((100 * e.loaded) / e.total); }
    });
    request.addEventListener("load", function () {
      if (request.status === 200) {
        try { window.location.assign(JSON.parse(request.responseText).location); return; } catch (ignored) {}
      }
      document.open(); document.write(request.responseText); document.close();
    });
    request.addEventListener("error", function () { form.submit(); });
    request.send(new FormData(form));
  });
})();
