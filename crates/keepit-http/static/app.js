// keepit-watch dashboard helpers. The pages work without this file.
(function () {
  "use strict";
  // Absolute times arrive in UTC; show them in the browser's zone, UTC on hover.
  function localTimes(root) {
    root.querySelectorAll("time.local[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      if (!el.title) el.title = el.textContent.trim();
      el.textContent = when.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
      });
    });
  }
  // A refresh replaces the region; the <details> a reader opened stay open.
  var open = [];
  document.addEventListener("htmx:beforeSwap", function (event) {
    open = Array.prototype.map.call(
      event.detail.target.querySelectorAll("details[id][open]"), function (el) { return el.id; });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    open.forEach(function (id) {
      var el = document.getElementById(id);
      if (el) el.open = true;
    });
    localTimes(event.detail.target);
  });
  // A destructive form asks first (without JavaScript it posts straight away; the
  // page that follows says what happened).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);
  // A CSV file chosen for import is read into the text box the form posts.
  document.addEventListener("change", function (event) {
    var input = event.target;
    var target = input.getAttribute && input.getAttribute("data-fills");
    if (!target || !input.files || !input.files[0]) return;
    var box = document.getElementById(target);
    var reader = new FileReader();
    reader.onload = function () { if (box) box.value = reader.result; };
    reader.readAsText(input.files[0]);
  });
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
})();
