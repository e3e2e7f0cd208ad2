// Switchboard console: live queue updates and keyboard shortcuts. Pages
// work without this file; it only adds to them. No inline script anywhere
// (the Content-Security-Policy forbids it).
(function () {
  "use strict";

  // Live updates: a tbody with data-live="<url>" reloads from that URL when
  // the server says a ticket changed (server-sent events, /console/events).
  function live() {
    var rows = document.querySelector("[data-live]");
    if (!rows || !window.EventSource) return;
    var pending = null;
    var source = new EventSource("/console/events");
    source.addEventListener("ticket", function () {
      if (pending) return;
      pending = setTimeout(function () {
        pending = null;
        var target = document.querySelector("[data-live]");
        if (!target) return;
        var url = target.getAttribute("data-live");
        if (window.htmx) {
          window.htmx.ajax("GET", url, { target: "#queue-rows", swap: "outerHTML" });
        } else {
          fetch(url, { credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.text() : null; })
            .then(function (html) { if (html) target.outerHTML = html; });
        }
      }, 250);
    });
    window.addEventListener("beforeunload", function () { source.close(); });
  }

  function typing(target) {
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  var selected = -1;
  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-list] tr[data-href]"));
  }
  function select(index) {
    var all = rows();
    if (all.length === 0) return;
    selected = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (row, i) { row.classList.toggle("selected", i === selected); });
    var link = all[selected].querySelector("a");
    if (link) link.focus();
  }

  var lastKey = "";
  function keys(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key;
    var focus = function (name) {
      var el = document.querySelector('[data-shortcut="' + name + '"]');
      if (el) { event.preventDefault(); el.focus(); }
    };
    if (lastKey === "g" && key === "q") {
      window.location.href = "/console/queue";
    } else if (key === "/") {
      focus("/");
    } else if (key === "r") {
      focus("r");
    } else if (key === "j") {
      select(selected + 1);
    } else if (key === "k") {
      select(selected - 1);
    } else if (key === "o" && selected >= 0) {
      window.location.href = rows()[selected].getAttribute("data-href");
    } else if (key === "?") {
      window.location.href = "/console/shortcuts";
    }
    lastKey = key;
  }

  document.addEventListener("DOMContentLoaded", function () {
    live();
    document.addEventListener("keydown", keys);
  });
})();
