// cdnpurge console: follows a job's status events (server-sent events)
// and reloads the page when the job's state changes, so its paths and
// tasks show as soon as they are known. No other script runs.
"use strict";
(function () {
  var job = document.getElementById("job");
  if (!job || !window.EventSource) {
    return;
  }
  if (job.getAttribute("data-final") === "true") {
    return; // nothing more will happen to it
  }
  // Should an event slip between the page and the subscription, look
  // again now and then.
  window.setTimeout(function () { window.location.reload(); }, 10000);
  var id = job.getAttribute("data-job");
  var list = document.getElementById("events");
  var live = document.getElementById("live");
  var es = new EventSource("/console/jobs/" + encodeURIComponent(id) + "/events");
  es.addEventListener("status", function (m) {
    var ev;
    try { ev = JSON.parse(m.data); } catch (e) { return; }
    var li = document.createElement("li");
    var text = (ev.time || "") + " " + ev.state + (ev.reason ? ": " + ev.reason : "");
    if (ev.action) { text += " [" + ev.action + " by " + ev.by + "]"; }
    li.textContent = text; // text, never markup
    list.appendChild(li);
    if (["submitted", "complete", "failed", "rejected", "cancelled", "deferred", "untracked"].indexOf(ev.state) >= 0) {
      es.close();
      window.setTimeout(function () { window.location.reload(); }, 300);
    }
  });
  es.onerror = function () { if (live) { live.textContent = "(reconnecting)"; } };
  es.onopen = function () { if (live) { live.textContent = "(live)"; } };
})();
