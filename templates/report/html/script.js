// Sort and filter the host x check matrix. The state lives in the URL fragment
// (#q=web&rows=issues&cols=failing&sort=score&dir=asc), so a filtered view can be linked.
(function () {
  "use strict";
  var table = document.getElementById("matrix");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var controls = {
    q: document.getElementById("filter-host"),
    rows: document.getElementById("filter-rows"),
    cols: document.getElementById("filter-cols")
  };
  var shown = document.getElementById("shown");
  var RANK = { "error": 0, "fail": 1, "warn": 2, "waived": 3, "info": 4, "pass": 5, "not-applicable": 6, "none": 7 };
  var DEFAULTS = { q: "", rows: "all", cols: "all", sort: "", dir: "asc" };
  var state = Object.assign({}, DEFAULTS);
  var bad = {};
  headers.forEach(function (th) {
    if (th.dataset.check) { bad[th.dataset.check] = Number(th.dataset.bad); }
  });

  function readHash() {
    var params = new URLSearchParams(window.location.hash.slice(1));
    Object.keys(DEFAULTS).forEach(function (key) {
      if (params.has(key)) { state[key] = params.get(key); }
    });
    controls.q.value = state.q;
    controls.rows.value = state.rows;
    controls.cols.checked = state.cols === "failing";
  }

  function writeHash() {
    var params = new URLSearchParams();
    Object.keys(DEFAULTS).forEach(function (key) {
      if (state[key] !== DEFAULTS[key]) { params.set(key, state[key]); }
    });
    var hash = params.toString();
    window.history.replaceState(null, "", hash ? "#" + hash : window.location.pathname);
  }

  function cellStatus(tr, check) {
    for (var i = 0; i < tr.cells.length; i++) {
      if (tr.cells[i].dataset.check === check) { return tr.cells[i].dataset.status; }
    }
    return "none";
  }

  function key(tr) {
    if (state.sort === "host") { return tr.dataset.host.toLowerCase(); }
    if (state.sort === "score" || state.sort === "failing" || state.sort === "pending") {
      return Number(tr.dataset[state.sort]);
    }
    if (state.sort.indexOf("check:") === 0) { return RANK[cellStatus(tr, state.sort.slice(6))]; }
    return Number(tr.dataset.index);
  }

  function visible(tr) {
    if (state.q && tr.dataset.host.toLowerCase().indexOf(state.q.toLowerCase()) < 0) { return false; }
    if (state.rows === "issues") { return tr.dataset.failing !== "0" || tr.dataset.status !== "ok"; }
    if (state.rows === "pending") { return tr.dataset.pending !== "0"; }
    if (state.rows === "unreached") { return tr.dataset.status !== "ok"; }
    return true;
  }

  function render() {
    var sign = state.dir === "desc" ? -1 : 1;
    var sorted = rows.slice().sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x < y) { return -sign; }
      if (x > y) { return sign; }
      return Number(a.dataset.index) - Number(b.dataset.index);
    });
    var count = 0;
    sorted.forEach(function (tr) {
      body.appendChild(tr);
      tr.hidden = !visible(tr);
      if (!tr.hidden) { count += 1; }
    });
    var onlyBad = state.cols === "failing";
    table.querySelectorAll("[data-check]").forEach(function (el) {
      el.hidden = onlyBad && bad[el.dataset.check] === 0;
    });
    headers.forEach(function (th) {
      var sortKey = th.dataset.check ? "check:" + th.dataset.check : th.dataset.sort;
      if (sortKey === state.sort) {
        th.setAttribute("aria-sort", state.dir === "desc" ? "descending" : "ascending");
      } else {
        th.removeAttribute("aria-sort");
      }
    });
    shown.textContent = count + " of " + rows.length + " hosts shown";
  }

  function update(change) {
    Object.assign(state, change);
    render();
    writeHash();
  }

  headers.forEach(function (th) {
    var sortKey = th.dataset.check ? "check:" + th.dataset.check : th.dataset.sort;
    if (!sortKey) { return; }
    th.addEventListener("click", function () {
      var dir = state.sort === sortKey && state.dir === "asc" ? "desc" : "asc";
      update({ sort: sortKey, dir: dir });
    });
  });
  controls.q.addEventListener("input", function () { update({ q: controls.q.value }); });
  controls.rows.addEventListener("change", function () { update({ rows: controls.rows.value }); });
  controls.cols.addEventListener("change", function () { update({ cols: controls.cols.checked ? "failing" : "all" }); });
  window.addEventListener("hashchange", function () { state = Object.assign({}, DEFAULTS); readHash(); render(); });

  readHash();
  render();
  document.body.dataset.ready = "true";
}());
