// The portal's small scripts. Every page works without them (forms post, pages reload); they
// add: focus on the error summary, the live department-matter hint, live event feeds over the
// notify stream (relayed by the portal at /stream), and the console's charts.
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  // --- error summary: move focus there so screen-reader and keyboard users land on it
  function focusErrorSummary() {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) summary.focus();
  }

  // --- which department matters the answers bring (same rules as portal_svc.routing_hints)
  function routingHints() {
    var form = document.querySelector("[data-routing-form]");
    var data = document.getElementById("routing-rules");
    var list = document.querySelector("[data-matters-list]");
    if (!form || !data || !list) return;
    var config = JSON.parse(data.textContent);
    function value(name) {
      var el = form.elements[name];
      if (!el) return "";
      if (el.type === "checkbox") return el.checked ? "true" : "";
      if (el.length !== undefined && !el.tagName) { // a radio group
        for (var i = 0; i < el.length; i++) if (el[i].checked) return el[i].value;
        return "";
      }
      return el.value;
    }
    function holds(cond) {
      var raw = value(cond[0]), op = cond[1], expected = cond[2];
      if (op === "true") return raw === "true";
      if (op === "eq") return raw === expected;
      var n = parseFloat(raw);
      if (isNaN(n)) return false;
      return op === "ge" ? n >= expected : n > expected;
    }
    function update() {
      var found = [];
      config.rules.forEach(function (rule) {
        if (rule.when.every(holds)) rule.matters.forEach(function (m) { if (found.indexOf(m) < 0) found.push(m); });
      });
      list.innerHTML = "";
      if (!found.length) found = [null];
      found.forEach(function (code) {
        var li = document.createElement("li");
        if (code === null) li.textContent = config.none;
        else {
          var info = config.names[code];
          li.textContent = code + (info ? " — " + (config.locale === "zh_CN" ? info.name_zh : info.name) : "");
        }
        list.appendChild(li);
      });
    }
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }

  // --- live feeds over Server-Sent Events
  var seen = 0, stamps = [];
  function describe(event) {
    var when = (event.time || "").replace("T", " ").slice(0, 19);
    return when + "  " + event.type + (event.subject ? "  " + event.subject : "");
  }
  function liveFeeds() {
    var feeds = document.querySelectorAll("[data-live-feed]");
    if (!feeds.length || !window.EventSource) return;
    var state = document.querySelector("[data-stream-state]");
    var source = new EventSource(feeds[0].getAttribute("data-stream"));
    var refreshTimer = null;
    source.onopen = function () { if (state) { state.textContent = "live"; state.className = "tag tag--green"; } };
    source.onerror = function () { if (state) { state.textContent = "reconnecting"; state.className = "tag tag--grey"; } };
    function handle(message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (!event || !event.type) return;
      seen += 1; stamps.push(Date.now());
      feeds.forEach(function (feed) {
        var empty = feed.querySelector("[data-feed-empty]");
        if (empty) empty.hidden = true;
        var list = feed.querySelector("[data-feed-list]");
        var li = document.createElement("li");
        li.className = "code";
        li.setAttribute("data-event-type", event.type);
        if (event.subject) li.setAttribute("data-subject", event.subject);
        li.textContent = describe(event);
        list.insertBefore(li, list.firstChild);
        while (list.children.length > 100) list.removeChild(list.lastChild);
      });
      var seenEl = document.querySelector("[data-events-seen]");
      if (seenEl) seenEl.textContent = String(seen);
      var panels = document.getElementById("console-panels");
      if (panels && window.htmx && !refreshTimer) {
        refreshTimer = setTimeout(function () { refreshTimer = null; window.htmx.trigger(panels, "refresh"); }, 1000);
      }
    }
    source.onmessage = handle;
    // notify-svc names each message after its event type: listen to every name it may use.
    ["project.submitted", "project.filed", "approval.task.assigned", "approval.decision.recorded",
     "project.supplement_requested", "project.supplement_provided", "project.approved",
     "project.rejected", "project.withdrawn", "approval.task.withdrawn", "supervision.report.filed",
     "supervision.alert.raised", "supervision.alert.resolved", "credit.record.added",
     "credit.status.changed", "notification.delivered", "notification.failed"].forEach(function (name) {
      source.addEventListener(name, handle);
    });
    var rate = document.querySelector("[data-events-rate]");
    if (rate) setInterval(function () {
      var cutoff = Date.now() - 10000;
      stamps = stamps.filter(function (t) { return t >= cutoff; });
      rate.textContent = (stamps.length / 10).toFixed(1);
    }, 1000);
  }

  // --- console charts (Chart.js, vendored), redrawn after each panel refresh
  var charts = {};
  function drawCharts() {
    var data = document.getElementById("chart-data");
    if (!data || !window.Chart) return;
    var d = JSON.parse(data.textContent);
    function draw(id, labels, datasets) {
      var canvas = document.getElementById(id);
      if (!canvas) return;
      if (charts[id]) { charts[id].data.labels = labels; charts[id].data.datasets = datasets; charts[id].update(); return; }
      charts[id] = new window.Chart(canvas, {
        type: "bar",
        data: { labels: labels, datasets: datasets },
        options: { animation: false, responsive: true, plugins: { legend: { display: datasets.length > 1 } } }
      });
    }
    draw("chart-status", d.labels, [{ label: "projects", data: d.values, backgroundColor: "#1d4f91" }]);
    draw("chart-queues", d.queue_labels, [
      { label: "pending", data: d.queue_pending, backgroundColor: "#1d4f91" },
      { label: "overdue", data: d.queue_overdue, backgroundColor: "#c0111f" }
    ]);
  }

  onReady(function () {
    focusErrorSummary();
    routingHints();
    liveFeeds();
    drawCharts();
    document.body.addEventListener("htmx:afterSwap", drawCharts);
  });
})();
