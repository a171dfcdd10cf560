/* longbench leaderboard: sortable tables (click or Enter on a header) and one tab per suite section.
   The page is rendered by leaderboard/page.py; this script only reorders and shows existing nodes. */
(function () {
  "use strict";
  function sortKey(cell, type) {
    var v = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    if (type === "num") {
      var x = parseFloat(v);
      return (v === "" || isNaN(x)) ? null : x;
    }
    return v.toLowerCase();
  }
  function sortTable(th) {
    var row = th.parentNode, table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(row.children, th);
    var type = th.getAttribute("data-type") || "text";
    var current = th.getAttribute("aria-sort");
    var dir;
    if (current) { dir = current === "ascending" ? "descending" : "ascending"; }
    else { dir = th.getAttribute("data-first") || "ascending"; }
    var rows = Array.prototype.slice.call(body.rows).map(function (r, i) {
      return { row: r, i: i, k: sortKey(r.cells[col], type) };
    });
    rows.sort(function (a, b) {
      if (a.k === null || b.k === null) {
        if (a.k === b.k) { return a.i - b.i; }
        return a.k === null ? 1 : -1;   /* missing values always last */
      }
      var c = a.k < b.k ? -1 : (a.k > b.k ? 1 : 0);
      return (dir === "ascending" ? c : -c) || (a.i - b.i);
    });
    Array.prototype.forEach.call(row.children, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    rows.forEach(function (r) { body.appendChild(r.row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable thead th"), function (th) {
    th.tabIndex = 0;
    th.addEventListener("click", function () { sortTable(th); });
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(th); }
    });
  });
  var tabs = document.querySelectorAll("nav.tabs a");
  function show(id) {
    var found = false;
    Array.prototype.forEach.call(document.querySelectorAll("section.suite"), function (s) {
      var on = s.id === id; found = found || on; s.classList.toggle("active", on);
    });
    Array.prototype.forEach.call(tabs, function (t) {
      t.setAttribute("aria-selected", t.getAttribute("data-target") === id ? "true" : "false");
    });
    return found;
  }
  Array.prototype.forEach.call(tabs, function (t) {
    t.addEventListener("click", function (e) {
      e.preventDefault();
      var id = t.getAttribute("data-target");
      if (show(id) && history.replaceState) { history.replaceState(null, "", "#" + id); }
    });
  });
  if (tabs.length) {
    document.body.classList.add("js");
    var wanted = decodeURIComponent(location.hash.slice(1));
    if (!show(wanted)) { show(tabs[0].getAttribute("data-target")); }
  }
})();
