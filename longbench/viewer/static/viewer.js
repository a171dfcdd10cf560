/* longbench run viewer: renders the page data of <script id="viewer-data"> (see longbench/viewer/data.py).
   Every text from the data goes into the page through textContent or DOM properties, never innerHTML. */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("viewer-data").textContent);
  var IT = D.items;
  var N = IT.id.length;
  var R = D.runs.length;
  var PER_PAGE = Math.max(1, D.per_page | 0);
  var byId = Object.create(null);
  IT.id.forEach(function (id, i) { byId[id] = i; });
  var segMeta = Object.create(null);
  D.segmetrics.forEach(function (m) { segMeta[m.name] = m; });
  var colMeta = Object.create(null);
  D.columns.forEach(function (c) { colMeta[c.name] = c; });
  var lowered = null;  /* prompts and ids in lower case, built on the first text search */

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function fmt(v) {
    if (v === null || v === undefined) { return "–"; }
    return Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(3);
  }

  function option(select, value, label) {
    var o = document.createElement("option");
    o.value = String(value);
    o.textContent = label;
    select.appendChild(o);
  }

  /* ---------------------------------------------------------------- state <-> URL fragment */
  function defaults() {
    return { sort: "order", a: 0, b: -1, dir: "asc", bucket: -1, q: "", lo: "", hi: "", top: "",
             metric: D.segmetrics.length ? D.segmetrics[0].name : "", tint: 0, page: 0, item: "" };
  }
  var state = defaults();

  function validSort(s) {
    return s === "order" || s === "id" || s === "tokens" || (s.indexOf("col:") === 0 && s.slice(4) in colMeta);
  }
  function intIn(v, lo, hi, dflt) {
    var x = parseInt(v, 10);
    return (isNaN(x) || x < lo || x > hi) ? dflt : x;
  }
  function numText(v) { return (v === null || v === "" || isNaN(parseFloat(v))) ? "" : String(parseFloat(v)); }

  function readHash() {
    var s = defaults();
    var p = new URLSearchParams(location.hash.replace(/^#/, ""));
    if (p.has("s") && validSort(p.get("s"))) { s.sort = p.get("s"); }
    s.a = intIn(p.get("a"), 0, R - 1, 0);
    s.b = intIn(p.get("b"), -1, R - 1, -1);
    if (p.get("d") === "desc") { s.dir = "desc"; }
    s.bucket = intIn(p.get("bk"), -1, D.buckets.length - 1, -1);
    s.q = p.get("q") || "";
    s.lo = numText(p.get("lo"));
    s.hi = numText(p.get("hi"));
    s.top = numText(p.get("n"));
    if (p.has("m") && p.get("m") in segMeta) { s.metric = p.get("m"); }
    s.tint = intIn(p.get("t"), 0, R - 1, 0);
    s.page = intIn(p.get("p"), 1, 1e9, 1) - 1;
    s.item = p.get("item") || "";
    return s;
  }

  function writeHash() {
    var d = defaults(), p = new URLSearchParams();
    if (state.sort !== d.sort) { p.set("s", state.sort); }
    if (state.a !== d.a) { p.set("a", state.a); }
    if (state.b !== d.b) { p.set("b", state.b); }
    if (state.dir !== d.dir) { p.set("d", state.dir); }
    if (state.bucket !== d.bucket) { p.set("bk", state.bucket); }
    if (state.q) { p.set("q", state.q); }
    if (state.lo !== "") { p.set("lo", state.lo); }
    if (state.hi !== "") { p.set("hi", state.hi); }
    if (state.top !== "") { p.set("n", state.top); }
    if (state.metric !== d.metric) { p.set("m", state.metric); }
    if (state.tint !== d.tint) { p.set("t", state.tint); }
    if (state.page) { p.set("p", state.page + 1); }
    if (state.item) { p.set("item", state.item); }
    var text = p.toString();
    if (history.replaceState) {
      history.replaceState(null, "", text ? "#" + text : location.pathname + location.search);
    }
  }

  /* ---------------------------------------------------------------- controls */
  function buildControls() {
    var sort = $("sort");
    option(sort, "order", "suite order");
    option(sort, "id", "item id");
    option(sort, "tokens", "prompt length (tokens)");
    D.columns.forEach(function (c) { option(sort, "col:" + c.name, c.name + (c.hib ? " ↑" : " ↓")); });
    ["run-a", "tint"].forEach(function (id) {
      D.runs.forEach(function (r, k) { option($(id), k, r.label); });
    });
    option($("run-b"), -1, "—");
    D.runs.forEach(function (r, k) { option($("run-b"), k, r.label); });
    option($("bucket"), -1, "all");
    D.buckets.forEach(function (b, k) { option($("bucket"), k, b + " tokens"); });
    if (!D.segmetrics.length) { option($("metric"), "", "(no per-segment scores)"); }
    D.segmetrics.forEach(function (m) { option($("metric"), m.name, m.name); });
    $("controls").addEventListener("submit", function (e) { e.preventDefault(); });
    ["sort", "run-a", "run-b", "dir", "bucket", "metric", "tint"].forEach(function (id) {
      $(id).addEventListener("change", fromControls);
    });
    ["q", "lo", "hi", "top"].forEach(function (id) { $(id).addEventListener("input", fromControls); });
  }

  function toControls() {
    $("sort").value = state.sort;
    $("run-a").value = String(state.a);
    $("run-b").value = String(state.b);
    $("dir").value = state.dir;
    $("bucket").value = String(state.bucket);
    $("q").value = state.q;
    $("lo").value = state.lo;
    $("hi").value = state.hi;
    $("top").value = state.top;
    $("metric").value = state.metric;
    $("tint").value = String(state.tint);
    var isCol = state.sort.indexOf("col:") === 0;
    $("run-a").disabled = $("run-b").disabled = !isCol;
  }

  function fromControls() {
    state.sort = validSort($("sort").value) ? $("sort").value : "order";
    state.a = intIn($("run-a").value, 0, R - 1, 0);
    state.b = intIn($("run-b").value, -1, R - 1, -1);
    state.dir = $("dir").value === "desc" ? "desc" : "asc";
    state.bucket = intIn($("bucket").value, -1, D.buckets.length - 1, -1);
    state.q = $("q").value;
    state.lo = numText($("lo").value);
    state.hi = numText($("hi").value);
    state.top = numText($("top").value);
    state.metric = $("metric").value in segMeta ? $("metric").value : defaults().metric;
    state.tint = intIn($("tint").value, 0, R - 1, 0);
    state.page = 0;
    state.item = "";
    writeHash();
    render();
  }

  /* ---------------------------------------------------------------- ordering and filtering */
  var NULLS = [];
  function column(k, name) { return D.scores[k][name] || NULLS; }

  function keyFn() {
    if (state.sort === "order") { return function (i) { return i; }; }
    if (state.sort === "id") { return function (i) { return IT.id[i]; }; }
    if (state.sort === "tokens") { return function (i) { return IT.tokens[i]; }; }
    var name = state.sort.slice(4), a = column(state.a, name);
    if (state.b < 0) { return function (i) { var v = a[i]; return v === undefined ? null : v; }; }
    var b = column(state.b, name);
    return function (i) {
      var x = a[i], y = b[i];
      return (x === null || x === undefined || y === null || y === undefined) ? null : x - y;
    };
  }

  function ordered() {
    var key = keyFn(), out = [], i;
    var words = state.q.toLowerCase().split(/\s+/).filter(Boolean);
    if (words.length && lowered === null) {
      lowered = IT.prompt.map(function (p, j) { return (IT.id[j] + " " + p).toLowerCase(); });
    }
    var lo = state.lo === "" ? null : parseFloat(state.lo), hi = state.hi === "" ? null : parseFloat(state.hi);
    for (i = 0; i < N; i++) {
      if (state.bucket >= 0 && IT.bucket[i] !== state.bucket) { continue; }
      if (words.length && !words.every(function (w) { return lowered[i].indexOf(w) >= 0; })) { continue; }
      if (lo !== null || hi !== null) {
        var v = key(i);
        if (typeof v !== "number" || (lo !== null && v < lo) || (hi !== null && v > hi)) { continue; }
      }
      out.push(i);
    }
    var keys = new Array(N), sign = state.dir === "desc" ? -1 : 1;
    out.forEach(function (j) { keys[j] = key(j); });
    out.sort(function (x, y) {
      var kx = keys[x], ky = keys[y];
      if (kx === null || ky === null) {
        if (kx === ky) { return x - y; }
        return kx === null ? 1 : -1;  /* items without a value always last */
      }
      var c = kx < ky ? -1 : (kx > ky ? 1 : 0);
      return sign * c || x - y;
    });
    var top = state.top === "" ? 0 : Math.floor(parseFloat(state.top));
    if (top > 0 && out.length > top) { out = out.slice(0, top); }
    return { list: out, key: key };
  }

  /* ---------------------------------------------------------------- tints */
  function tint(metric, v) {
    var m = segMeta[metric];
    if (!m || v === null || v === undefined) { return null; }
    var t = m.unit ? v : (v - m.lo) / (m.hi - m.lo);
    t = Math.max(0, Math.min(1, t));
    return { t: t, color: "hsl(" + Math.round(120 * t) + ", 70%, 80%)" };
  }

  function paint(e, metric, v) {
    var c = tint(metric, v);
    e.classList.add(c === null ? "na" : (c.t < 0.5 ? "lo" : "hi"));
    if (c !== null) { e.style.backgroundColor = c.color; }
    e.setAttribute("data-score", v === null || v === undefined ? "" : String(v));
  }

  function segScores(k, metric, i) {
    var lists = metric ? D.segs[k][metric] : null;
    return lists ? lists[i] : null;
  }

  function spansOf(metric, i) {
    var s = metric && D.spans[metric] ? D.spans[metric][i] : null;
    return s || null;
  }

  /* The prompt, split at segment boundaries and at the window end; segments tinted by the tint run. */
  function renderPrompt(i) {
    var text = IT.prompt[i], w = IT.w77[i], metric = state.metric;
    var spans = spansOf(metric, i), vals = segScores(state.tint, metric, i);
    if (!spans || !vals || spans.length !== 2 * vals.length) { spans = null; }
    var cuts = [0, text.length];
    if (w >= 0) { cuts.push(w); }
    if (spans) { spans.forEach(function (x) { cuts.push(x); }); }
    cuts = cuts.filter(function (x, j, a) { return a.indexOf(x) === j; }).sort(function (x, y) { return x - y; });
    var p = el("p", "prompt");
    for (var c = 0; c + 1 < cuts.length; c++) {
      var a = cuts[c], b = cuts[c + 1];
      if (a === w) {
        var mark = el("span", "w77", String(D.window));
        mark.title = "CLIP's " + D.window + "-token window ends here: the text after it is truncated by a " +
                     D.window + "-token text encoder";
        p.appendChild(mark);
      }
      if (b <= a) { continue; }
      var piece = el("span", w >= 0 && a >= w ? "beyond" : null, text.slice(a, b));
      if (spans) {
        for (var s = 0; s < vals.length; s++) {
          if (spans[2 * s] <= a && b <= spans[2 * s + 1]) {
            piece.classList.add("seg");
            piece.setAttribute("data-seg", String(s));
            paint(piece, metric, vals[s]);
            piece.title = metric + " · " + D.runs[state.tint].label + " · segment " + (s + 1) + ": " + fmt(vals[s]);
            break;
          }
        }
      }
      p.appendChild(piece);
    }
    return p;
  }

  function strip(k, i) {
    var metric = state.metric, vals = segScores(k, metric, i);
    var box = el("div", "strip");
    if (!vals) { return box; }
    var spans = spansOf(metric, i);
    if (spans && spans.length !== 2 * vals.length) { spans = null; }
    box.title = metric + " per segment (click: tint the prompt by this run)";
    vals.forEach(function (v, s) {
      var bar = el("span", "bar");
      paint(bar, metric, v);
      var snippet = spans ? IT.prompt[i].slice(spans[2 * s], spans[2 * s + 1]) : "";
      if (snippet.length > 90) { snippet = snippet.slice(0, 87) + "…"; }
      bar.title = "segment " + (s + 1) + ": " + fmt(v) + (snippet ? " — " + snippet : "");
      box.appendChild(bar);
    });
    box.addEventListener("click", function () {
      state.tint = k;
      toControls();
      writeHash();
      render();
    });
    return box;
  }

  function shownColumns() {
    var cols = D.columns.filter(function (c) { return c.metric === state.metric && c.name.indexOf("@") < 0; });
    if (!cols.length) { cols = D.columns.filter(function (c) { return c.name.indexOf("@") < 0; }).slice(0, 4); }
    var names = cols.map(function (c) { return c.name; });
    if (state.sort.indexOf("col:") === 0 && names.indexOf(state.sort.slice(4)) < 0) {
      names.unshift(state.sort.slice(4));
    }
    return names;
  }

  function scoreList(k, i, names) {
    var dl = el("dl", "scores");
    names.forEach(function (name) {
      var vals = D.scores[k][name];
      if (!vals) { return; }
      var dt = el("dt", null, name), dd = el("dd", null, fmt(vals[i]));
      if (state.sort === "col:" + name) { dt.classList.add("sorted"); dd.classList.add("sorted"); }
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
    return dl;
  }

  function figure(k, i, names) {
    var fig = el("figure", "run" + (k === state.tint ? " tinting" : ""));
    fig.setAttribute("data-run", String(k));
    var thumb = D.thumb[k][i];
    if (thumb) {
      var btn = el("button", "thumb");
      btn.type = "button";
      var img = el("img");
      img.src = thumb;
      img.alt = D.runs[k].label + " · " + IT.id[i];
      img.loading = "lazy";
      img.decoding = "async";
      btn.appendChild(img);
      btn.addEventListener("click", function () { openLightbox(k, i); });
      fig.appendChild(btn);
    } else {
      var gap = el("div", "gap");
      gap.appendChild(el("strong", null, "no image"));
      gap.appendChild(el("span", null, D.gap[k][String(i)] || "not in this run"));
      fig.appendChild(gap);
    }
    var cap = el("figcaption");
    cap.appendChild(el("div", "label", D.runs[k].label));
    cap.appendChild(strip(k, i));
    cap.appendChild(scoreList(k, i, names));
    fig.appendChild(cap);
    return fig;
  }

  function card(i, key, names) {
    var art = el("article", "item");
    art.id = "item-" + i;
    art.setAttribute("data-item", IT.id[i]);
    var head = el("header");
    var link = el("a", "permalink", IT.id[i]);
    link.href = "#item=" + encodeURIComponent(IT.id[i]);
    link.title = "link to this item";
    head.appendChild(link);
    var info = D.buckets[IT.bucket[i]] + " · " + IT.tokens[i] + " tokens" +
               (IT.seed[i] === null ? "" : " · seed " + IT.seed[i]);
    if (state.sort.indexOf("col:") === 0) {
      info += " · " + state.sort.slice(4) + (state.b >= 0 ? " (difference)" : "") + " = " + fmt(key(i));
    }
    head.appendChild(el("span", "info", info));
    art.appendChild(head);
    art.appendChild(renderPrompt(i));
    var runs = el("div", "runs");
    for (var k = 0; k < R; k++) { runs.appendChild(figure(k, i, names)); }
    art.appendChild(runs);
    return art;
  }

  function pager(box, total, pages) {
    while (box.firstChild) { box.removeChild(box.firstChild); }
    var from = total ? state.page * PER_PAGE + 1 : 0, to = Math.min(total, (state.page + 1) * PER_PAGE);
    box.appendChild(el("span", "count", "items " + from + "–" + to + " of " + total +
                       (total !== N ? " (filtered from " + N + ")" : "") + " · page " + (state.page + 1) + " of " +
                       Math.max(1, pages)));
    [["first", 0], ["prev", state.page - 1], ["next", state.page + 1], ["last", pages - 1]].forEach(function (b) {
      var btn = el("button", "page-" + b[0], b[0]);
      btn.type = "button";
      btn.disabled = b[1] < 0 || b[1] >= pages || b[1] === state.page;
      btn.addEventListener("click", function () {
        state.page = b[1];
        state.item = "";
        writeHash();
        render();
        window.scrollTo(0, 0);
      });
      box.appendChild(btn);
    });
  }

  function runsTable() {
    var box = $("runs");
    while (box.firstChild) { box.removeChild(box.firstChild); }
    var cols = shownColumns();
    var table = el("table", "runs"), head = el("tr");
    ["#", "run", "n", "run id"].concat(cols).forEach(function (h) { head.appendChild(el("th", null, h)); });
    var thead = el("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    var body = el("tbody");
    D.runs.forEach(function (r, k) {
      var tr = el("tr", k === state.tint ? "tinting" : null);
      tr.appendChild(el("td", "num", String(k + 1)));
      tr.appendChild(el("td", "label", r.label));
      tr.appendChild(el("td", "num", String(r.n)));
      tr.appendChild(el("td", "runid", r.run_id));
      cols.forEach(function (c) {
        var m = r.metrics[c];
        var td = el("td", "num", m ? fmt(m[0]) : "–");
        if (m && m[1] !== null) { td.appendChild(el("span", "ci", " [" + fmt(m[1]) + ", " + fmt(m[2]) + "]")); }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    box.appendChild(table);
  }

  function render() {
    var o = ordered();
    if (state.item && state.item in byId) {
      var idx = byId[state.item], pos = o.list.indexOf(idx);
      if (pos < 0) {  /* hidden by a filter: drop the filters so the linked item shows */
        state.bucket = -1; state.q = ""; state.lo = ""; state.hi = ""; state.top = "";
        toControls();
        o = ordered();
        pos = o.list.indexOf(idx);
      }
      state.page = Math.floor(pos / PER_PAGE);
    }
    var pages = Math.ceil(o.list.length / PER_PAGE);
    if (state.page >= pages) { state.page = Math.max(0, pages - 1); }
    pager($("pager-top"), o.list.length, pages);
    pager($("pager-bottom"), o.list.length, pages);
    runsTable();
    var main = $("items");
    while (main.firstChild) { main.removeChild(main.firstChild); }
    var names = shownColumns(), frag = document.createDocumentFragment();
    o.list.slice(state.page * PER_PAGE, (state.page + 1) * PER_PAGE).forEach(function (i) {
      frag.appendChild(card(i, o.key, names));
    });
    if (!o.list.length) { frag.appendChild(el("p", "empty", "No item matches the filters.")); }
    main.appendChild(frag);
    if (state.item && state.item in byId) {
      var target = $("item-" + byId[state.item]);
      if (target) {
        target.classList.add("selected");
        target.scrollIntoView({ block: "start" });
      }
    }
  }

  /* ---------------------------------------------------------------- lightbox */
  var lastFocus = null;
  function openLightbox(k, i) {
    var box = $("lightbox"), img = $("lightbox-img"), cap = $("lightbox-caption");
    lastFocus = document.activeElement;
    img.src = D.full[k][i] || D.thumb[k][i];
    img.alt = D.runs[k].label + " · " + IT.id[i];
    while (cap.firstChild) { cap.removeChild(cap.firstChild); }
    cap.appendChild(el("div", "label", D.runs[k].label + " · " + IT.id[i]));
    cap.appendChild(scoreList(k, i, D.columns.map(function (c) { return c.name; })));
    box.hidden = false;
    $("lightbox-close").focus();
  }
  function closeLightbox() {
    $("lightbox").hidden = true;
    $("lightbox-img").removeAttribute("src");
    if (lastFocus && lastFocus.focus) { lastFocus.focus(); }
  }
  $("lightbox-close").addEventListener("click", closeLightbox);
  $("lightbox").addEventListener("click", function (e) { if (e.target === $("lightbox")) { closeLightbox(); } });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !$("lightbox").hidden) { closeLightbox(); }
  });

  /* ---------------------------------------------------------------- start */
  buildControls();
  state = readHash();
  toControls();
  render();
  window.addEventListener("hashchange", function () {
    state = readHash();
    toControls();
    render();
  });
  document.body.setAttribute("data-ready", "1");
})();
