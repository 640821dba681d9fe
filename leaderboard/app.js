/* vipbench leaderboard: sorting, charts, the sample browser and the comparison view.
 *
 * Safety rule for this file: text from the data (model outputs, questions, references, judge replies, names)
 * reaches the page only through textContent / createTextNode (the el() helper below). innerHTML, outerHTML,
 * insertAdjacentHTML and document.write are never used. Sample files are loaded with <script src>, which
 * works from file:// where fetch() does not; they call vipbenchSamples(key, data).
 */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("vipbench-data").textContent);
  var SVG_NS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
                 "#9c755f", "#bab0ac"];
  var PAGE_SIZE = 20;

  // ------------------------------------------------------------------------------------------- helpers

  function append(node, children) {
    if (children === null || children === undefined || children === false) return node;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      if (Array.isArray(child)) { append(node, child); return; }
      if (typeof child === "string" || typeof child === "number") {
        node.appendChild(document.createTextNode(String(child)));
      } else {
        node.appendChild(child);
      }
    });
    return node;
  }

  // Only our own relative paths may become a URL: images, data files, run files and in-page anchors.
  function safeUrl(value) {
    var s = String(value);
    return /^(img|data|runs|assets)\/[A-Za-z0-9._\/@+-]+$/.test(s) || /^#[A-Za-z0-9?=&%._\/@+!'()*~-]*$/.test(s) ? s : "#";
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = String(value);
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
        else if (key === "href" || key === "src") node.setAttribute(key, safeUrl(value));
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    return append(node, children);
  }

  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, String(attrs[key])); });
    return append(node, children);
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function fmt(value, digits) {
    return value === null || value === undefined ? "–" : Number(value).toFixed(digits === undefined ? 1 : digits);
  }

  function option(value, label, selected) {
    return el("option", {value: value, selected: selected ? true : null, text: label});
  }

  function scoreClass(score) {
    if (score === null || score === undefined) return "score-none";
    return score >= 75 ? "score-hi" : score >= 25 ? "score-mid" : "score-lo";
  }

  function scoreBadge(sample) {
    if (sample.score === null) {
      return el("span", {class: "badge score-failed", title: "no grade succeeded"}, sample.failed ? "failed" : "–");
    }
    var title = "mean over judge runs, 0–100: " + sample.grades.map(function (g) {
      return g.score === null ? "×" : fmt(g.score);
    }).join(", ");
    return el("span", {class: "badge " + scoreClass(sample.score), title: title}, [
      fmt(sample.score), sample.failed ? el("span", {class: "warn-dot", title: sample.failed + " grade(s) failed"}, "!") : null,
    ]);
  }

  // --------------------------------------------------------------------------------------- hash routes

  function parseHash() {
    var hash;
    try { hash = decodeURIComponent(location.hash.replace(/^#/, "")); } catch (e) { hash = ""; }
    var q = hash.indexOf("?");
    var tab = (q < 0 ? hash : hash.slice(0, q)) || "overview";
    var params = new URLSearchParams(q < 0 ? "" : location.hash.slice(location.hash.indexOf("?") + 1));
    return {tab: tab, params: params};
  }

  function setHash(tab, params) {
    var query = params ? new URLSearchParams(params).toString() : "";
    var hash = "#" + tab + (query ? "?" + query : "");
    if (location.hash !== hash) history.replaceState(null, "", hash);
  }

  var renderers = {};

  function showTab() {
    var route = parseHash();
    var sections = document.querySelectorAll("section.tab");
    var known = Array.prototype.some.call(sections, function (s) { return s.dataset.tab === route.tab; });
    var tab = known ? route.tab : "overview";
    sections.forEach(function (s) { s.hidden = s.dataset.tab !== tab; });
    document.querySelectorAll("nav.tabs a").forEach(function (a) {
      if (a.dataset.tab === tab) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    if (renderers[tab]) renderers[tab](route.params);
  }

  // --------------------------------------------------------------------------------------- sorting

  function sortValue(td, numeric) {
    var raw = td ? td.getAttribute("data-value") : "";
    if (raw === null) raw = td.textContent;
    if (!numeric) return raw.toLowerCase();
    return raw === "" ? null : parseFloat(raw);
  }

  function makeSortable(table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (th, index) {
      var kind = th.getAttribute("data-sort");
      if (!kind) return;
      th.classList.add("sortable-col");
      th.addEventListener("click", function () {
        var current = th.getAttribute("aria-sort");
        // Numbers sort high to low first, text A to Z first; a second click reverses.
        var first = kind === "num" ? "descending" : "ascending";
        var dir = current === first ? (first === "descending" ? "ascending" : "descending") : first;
        headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir);
        var tbody = table.tBodies[0];
        var rows = Array.prototype.slice.call(tbody.rows);
        var sign = dir === "ascending" ? 1 : -1;
        rows.sort(function (a, b) {
          var va = sortValue(a.cells[index], kind === "num");
          var vb = sortValue(b.cells[index], kind === "num");
          if (va === null && vb === null) return 0;
          if (va === null) return 1;  // empty cells stay at the bottom either way
          if (vb === null) return -1;
          return va < vb ? -sign : va > vb ? sign : 0;
        });
        rows.forEach(function (r) { tbody.appendChild(r); });
      });
    });
  }

  // ---------------------------------------------------------------------------------------- charts

  // Grouped bars: one group per category, one bar per series, with the std over judge runs as a whisker.
  function barChart(container, categories, series, title) {
    clear(container);
    if (!categories.length || !series.length) return;
    var barW = Math.max(8, Math.min(26, 140 / series.length));
    var groupW = Math.max(barW * series.length + 22, 72);  // room for the category label
    var left = 40, top = 16, plotH = 190, bottom = 34;
    var width = Math.max(560, left + groupW * categories.length + 12);
    var height = top + plotH + bottom;
    var chart = svg("svg", {viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img",
                            class: "bars"});
    chart.appendChild(svg("title", {}, title));
    // 0–100, or higher when a score passes 100 (LLaVA-Bench's relative score can beat the reference).
    var top100 = 100;
    series.forEach(function (s) {
      s.values.forEach(function (v) { if (v && v.mean > top100) top100 = Math.ceil(v.mean / 25) * 25; });
    });
    var y = function (v) { return top + plotH - (Math.max(0, Math.min(top100, v)) / top100) * plotH; };
    var ticks = [];
    for (var t = 0; t <= top100; t += 25) ticks.push(t);
    ticks.forEach(function (tick) {
      chart.appendChild(svg("line", {x1: left, x2: width - 6, y1: y(tick), y2: y(tick), class: tick ? "grid" : "axis"}));
      chart.appendChild(svg("text", {x: left - 6, y: y(tick) + 4, class: "tick", "text-anchor": "end"}, String(tick)));
    });
    categories.forEach(function (cat, ci) {
      var x0 = left + 12 + ci * groupW;
      chart.appendChild(svg("text", {x: x0 + (barW * series.length) / 2, y: top + plotH + 18, class: "cat",
                                     "text-anchor": "middle"}, cat.label));
      series.forEach(function (s, si) {
        var stat = s.values[ci];
        if (!stat || stat.mean === null || stat.mean === undefined) return;
        var x = x0 + si * barW;
        var color = PALETTE[si % PALETTE.length];
        var bar = svg("rect", {x: x + 1, y: y(stat.mean), width: barW - 2, height: Math.max(0.5, y(0) - y(stat.mean)),
                               fill: color, rx: 2, class: "bar"});
        bar.appendChild(svg("title", {}, s.name + " · " + cat.label + ": " + stat.text + " (n = " + stat.n + ")"));
        chart.appendChild(bar);
        if (stat.std) {
          var cx = x + barW / 2;
          chart.appendChild(svg("line", {x1: cx, x2: cx, y1: y(stat.mean + stat.std), y2: y(stat.mean - stat.std),
                                         class: "whisker"}));
        }
      });
    });
    var legend = el("div", {class: "legend"}, series.map(function (s, si) {
      return el("span", {class: "legend-item"}, [
        el("span", {class: "swatch swatch-" + (si % PALETTE.length)}), s.name,
      ]);
    }));
    append(container, [el("div", {class: "chart-scroll"}, chart), legend]);
  }

  function drawCharts() {
    DATA.tables.forEach(function (table) {
      var box = document.querySelector('[data-chart="' + table.id + '"]');
      if (!box) return;
      var main = table.breakdowns[0];
      var cats = (main ? main.columns.map(function (c) { return {key: c.key, label: c.label}; }) : []);
      cats.push({key: null, label: table.headline || "All"});
      var series = table.rows.map(function (row) {
        return {name: row.name, values: cats.map(function (c) {
          return c.key === null ? row.total : (row.cells[main.key] || {})[c.key];
        })};
      });
      barChart(box, cats, series, table.task + " by " + (main ? main.key : "total"));
    });
    DATA.styles.forEach(function (table) {
      var box = document.querySelector('[data-chart="' + table.id + '"]');
      if (!box) return;
      var cats = table.styles.map(function (s) { return {key: s, label: s}; });
      var series = table.rows.map(function (row) {
        return {name: row.name, values: cats.map(function (c) { return row.cells[c.key]; })};
      });
      barChart(box, cats, series, table.task + " by prompt shape");
    });
  }

  // ---------------------------------------------------------------------------------- sample files

  var loaded = {};
  var loading = {};

  window.vipbenchSamples = function (key, payload) { loaded[key] = payload; };

  function loadUnit(unit) {
    if (loaded[unit.key]) return Promise.resolve(loaded[unit.key]);
    if (!loading[unit.key]) {
      loading[unit.key] = new Promise(function (resolve, reject) {
        var script = el("script", {src: unit.src});
        script.onload = function () {
          if (loaded[unit.key]) resolve(loaded[unit.key]);
          else reject(new Error("the sample file of " + unit.key + " registered nothing"));
        };
        script.onerror = function () {
          delete loading[unit.key];
          reject(new Error("cannot load " + unit.src));
        };
        document.head.appendChild(script);
      });
    }
    return loading[unit.key];
  }

  function unitByKey(key) {
    return DATA.units.filter(function (u) { return u.key === key; })[0] || null;
  }

  function protocolNote(unit) {  // "official protocol", or every deviation: such a number is not the paper's
    if (unit.deviations && unit.deviations.length) {
      return el("span", {class: "tag tag-deviates protocol-note"}, "deviates: " + unit.deviations.join("; "));
    }
    return el("span", {class: "protocol-note"}, unit.protocol === "official" ? "official protocol" : unit.protocol || "protocol not recorded");
  }

  function unitLabel(u) {
    var notes = [u.limit, u.deviations && u.deviations.length ? u.protocol : null].filter(Boolean);
    return u.model + " · " + u.run + (notes.length ? " (" + notes.join(", ") + ")" : "");  // a smoke or deviating run says so
  }

  function labelsOf(unit, key) {
    var map = {};
    (unit.breakdowns.filter(function (b) { return b.key === key; })[0] || {values: []}).values.forEach(function (v) {
      map[v.value] = v.label;
    });
    return map;
  }

  function pager(container, total, page, onPage) {
    clear(container);
    var pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    if (pages <= 1) return;
    append(container, [
      el("button", {type: "button", class: "page-prev", disabled: page <= 0 ? true : null,
                    onclick: function () { onPage(page - 1); }}, "← previous"),
      el("span", {class: "page-info"}, "page " + (page + 1) + " of " + pages),
      el("button", {type: "button", class: "page-next", disabled: page >= pages - 1 ? true : null,
                    onclick: function () { onPage(page + 1); }}, "next →"),
    ]);
  }

  function textBlock(label, text, cls) {
    return el("div", {class: "field " + (cls || "")}, [el("div", {class: "field-label"}, label),
                                                        el("div", {class: "field-text"}, text)]);
  }

  function refList(refs) {
    return el("div", {class: "field"}, [
      el("div", {class: "field-label"}, refs.length > 1 ? "References" : "Reference"),
      el("div", {class: "refs"}, refs.map(function (r) { return el("div", {class: "ref"}, r); })),
    ]);
  }

  function imageOf(sample, cls) {
    if (!sample.image) {  // a note says why when the build could not make the picture (a file that does not decode)
      var note = sample.image_note || null;
      return el("div", {class: "noimage " + (cls || ""), title: note}, cls === "full" && note ? note : "image not available");
    }
    return el("img", {src: sample.image, alt: "sample " + sample.id, loading: "lazy", class: cls || null});
  }

  // A REC or RES sample: its picture draws the truth and the model's region; the legend names the two styles.
  function answerLegend(answer) {
    var fill = answer.kind === "mask" ? " fill" : "";
    return el("div", {class: "legend answer-legend"}, [
      el("span", {class: "legend-item"}, [el("span", {class: "answer-swatch truth" + fill}), "truth"]),
      el("span", {class: "legend-item"}, [el("span", {class: "answer-swatch prediction" + fill}), "prediction"]),
      fill && answer.found ? el("span", {class: "legend-item"}, [el("span", {class: "answer-swatch both fill"}), "both"]) : null,
    ]);
  }

  function answerLine(answer) {  // "IoU 0.62 · hit", or "no box in the reply"
    var how = answer.kind === "mask" ? "" : answer.hit ? " answer-hit" : " answer-miss";
    var source = {decoded: answer.kind + " decoded by the model", text: "box read from the reply's text"}[answer.source];
    return el("div", {class: "answer-iou" + (answer.found ? how : " answer-none")}, [
      answer.text, source ? el("span", {class: "muted small"}, " · " + source) : null,
    ]);
  }

  function groupTags(unit, sample) {
    var tags = [];
    Object.keys(sample.groups).forEach(function (key) {
      var labels = labelsOf(unit, key);
      sample.groups[key].forEach(function (v) { tags.push(el("span", {class: "tag", title: key}, labels[v] || v)); });
    });
    return el("div", {class: "tags"}, tags);
  }

  // ----------------------------------------------------------------------------------- sample browser

  var browse = {unit: null, page: 0, sample: null, filters: {}, min: 0, max: 100, failed: false, search: "", sort: "id"};

  function filterSamples(unit, samples, state) {
    var q = state.search.trim().toLowerCase();
    var out = samples.filter(function (s) {
      for (var key in state.filters) {
        if (state.filters[key] && s.groups[key].indexOf(state.filters[key]) < 0) return false;
      }
      if (state.failed && !s.failed) return false;
      if (!state.failed || s.score !== null) {
        if (s.score === null && (state.min > 0 || state.max < 100)) return false;
        if (s.score !== null && (s.score < state.min || s.score > state.max)) return false;
      }
      if (q && (s.id + "\n" + s.question + "\n" + s.prediction + "\n" + s.references.join("\n")).toLowerCase().indexOf(q) < 0) return false;
      return true;
    });
    if (state.sort === "low" || state.sort === "high") {
      var sign = state.sort === "low" ? 1 : -1;
      out = out.slice().sort(function (a, b) {
        if (a.score === null) return b.score === null ? 0 : 1;
        if (b.score === null) return -1;
        return sign * (a.score - b.score);
      });
    }
    return out;
  }

  function samplesControls(unit) {
    var box = clear(document.getElementById("sample-controls"));
    var select = el("select", {id: "sample-unit", "aria-label": "run and task",
                               onchange: function () { selectUnit(select.value); }});
    var byTask = {};
    DATA.units.forEach(function (u) { (byTask[u.unit] = byTask[u.unit] || []).push(u); });
    Object.keys(byTask).forEach(function (task) {
      select.appendChild(el("optgroup", {label: task}, byTask[task].map(function (u) {
        return option(u.key, unitLabel(u) + " · " + fmt(u.total && u.total.mean), u.key === unit.key);
      })));
    });
    var controls = [el("label", {class: "control grow"}, [el("span", {}, "Run"), select])];
    unit.breakdowns.forEach(function (b) {
      var sel = el("select", {"data-filter": b.key, onchange: function () {
        browse.filters[b.key] = sel.value; browse.page = 0; renderSamples();
      }}, [option("", "all (" + unit.n + ")", !browse.filters[b.key])].concat(b.values.map(function (v) {
        return option(v.value, v.label + " (" + v.n + ")", browse.filters[b.key] === v.value);
      })));
      controls.push(el("label", {class: "control"}, [el("span", {}, b.key), sel]));
    });
    var min = el("input", {type: "number", min: 0, max: 100, step: 5, value: browse.min, id: "score-min",
                           "aria-label": "lowest score"});
    var max = el("input", {type: "number", min: 0, max: 100, step: 5, value: browse.max, id: "score-max",
                           "aria-label": "highest score"});
    var onRange = function () {
      var a = parseFloat(min.value), b = parseFloat(max.value);
      browse.min = isNaN(a) ? 0 : a; browse.max = isNaN(b) ? 100 : b; browse.page = 0; renderSamples();
    };
    min.addEventListener("input", onRange); max.addEventListener("input", onRange);
    controls.push(el("label", {class: "control range"}, [el("span", {}, "score (0–100)"),
                                                          el("span", {class: "range-inputs"}, [min, "–", max])]));
    var failed = el("input", {type: "checkbox", id: "only-failed", checked: browse.failed ? true : null,
                              onchange: function () { browse.failed = failed.checked; browse.page = 0; renderSamples(); }});
    var graderName = unit.judge.kind === "judge" ? "judge" : "grade";
    controls.push(el("label", {class: "control check"}, [failed, el("span", {}, graderName + " failed")]));
    var sort = el("select", {id: "sample-sort", onchange: function () { browse.sort = sort.value; browse.page = 0; renderSamples(); }},
                  [option("id", "dataset order", browse.sort === "id"), option("low", "lowest score first", browse.sort === "low"),
                   option("high", "highest score first", browse.sort === "high")]);
    controls.push(el("label", {class: "control"}, [el("span", {}, "order"), sort]));
    var search = el("input", {type: "search", id: "sample-search", placeholder: "search text", value: browse.search});
    search.addEventListener("input", function () { browse.search = search.value; browse.page = 0; renderSamples(); });
    controls.push(el("label", {class: "control search"}, [el("span", {}, "search"), search]));
    append(box, controls);
  }

  function selectUnit(key) {
    var unit = unitByKey(key);
    if (!unit) return;
    if (!browse.unit || browse.unit.key !== key) {
      browse.filters = {};
      browse.page = 0;
      browse.sample = null;
    }
    browse.unit = unit;
    samplesControls(unit);
    var list = clear(document.getElementById("sample-list"));
    list.appendChild(el("p", {class: "muted"}, "loading samples…"));
    loadUnit(unit).then(function () { renderSamples(); }, function (err) {
      clear(list).appendChild(el("p", {class: "warning"}, String(err.message)));
    });
  }

  function renderSamples() {
    var unit = browse.unit;
    var payload = loaded[unit.key];
    if (!payload) return;
    var shown = filterSamples(unit, payload.samples, browse);
    if (browse.jump) {  // opened by a link to one sample: show the page it is on
      browse.jump = false;
      var at = shown.map(function (s) { return s.id; }).indexOf(browse.sample);
      if (at >= 0) browse.page = Math.floor(at / PAGE_SIZE);
    }
    var pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
    if (browse.page >= pages) browse.page = pages - 1;
    var start = browse.page * PAGE_SIZE;
    var page = shown.slice(start, start + PAGE_SIZE);
    var j = unit.judge;
    var judgeText = j.kind === "judge" ? "judge " + j.model + (j.reported.length ? " (API: " + j.reported.join(", ") + ")" : "") +
                    " × " + j.runs + " run" + (j.runs === 1 ? "" : "s") : "metric " + j.name;
    var summary = clear(document.getElementById("sample-summary"));
    append(summary, [
      el("strong", {}, unit.model), " on ", el("strong", {}, unit.unit), " · run " + unit.run + " · " + judgeText + " · ",
      protocolNote(unit), " · ",
      shown.length ? "showing " + (start + 1) + "–" + (start + page.length) + " of " + shown.length +
                     (shown.length !== payload.samples.length ? " (filtered from " + payload.samples.length + ")" : "")
                   : "no sample matches the filters",
    ]);
    var list = clear(document.getElementById("sample-list"));
    page.forEach(function (s) {
      var item = el("button", {type: "button", class: "sample-item" + (browse.sample === s.id ? " selected" : ""),
                               "data-sample": s.id, onclick: function () {
                                 browse.sample = s.id; renderSamples();
                               }}, [
        imageOf(s, "thumb"),
        el("span", {class: "sample-text"}, [
          el("span", {class: "sample-head"}, [el("span", {class: "sample-id"}, s.id), scoreBadge(s)]),
          el("span", {class: "sample-q"}, s.question),
          el("span", {class: "sample-pred"}, s.prediction),
          s.answer ? el("span", {class: "sample-answer"}, s.answer.text) : null,
        ]),
      ]);
      list.appendChild(item);
    });
    pager(document.getElementById("sample-pager"), shown.length, browse.page, function (p) {
      browse.page = p; renderSamples(); document.getElementById("sample-summary").scrollIntoView({block: "nearest"});
    });
    // The open sample stays open while the filters keep it; otherwise the first one shown opens.
    var current = shown.filter(function (s) { return s.id === browse.sample; })[0];
    if (!current) {
      current = page[0] || null;
      browse.sample = current ? current.id : null;
      if (current) list.firstChild.classList.add("selected");
    }
    renderDetail(unit, current || null);
    var params = {unit: unit.key};
    if (browse.sample) params.sample = browse.sample;
    setHash("samples", params);
  }

  function renderDetail(unit, s) {
    var box = clear(document.getElementById("sample-detail"));
    if (!s) { box.appendChild(el("p", {class: "muted"}, "Select a sample.")); return; }
    var judged = unit.judge.kind === "judge";
    var grades = el("table", {class: "grades"}, [
      el("thead", {}, el("tr", {}, [el("th", {}, "run"), el("th", {}, "score"),
                                    el("th", {}, judged ? "judge reply" : "metric " + unit.judge.name)])),
      el("tbody", {}, s.grades.map(function (g) {
        var values = Object.keys(g.values || {}).map(function (k) { return k + ": " + JSON.stringify(g.values[k]); });
        return el("tr", {class: g.status === "ok" ? "" : "grade-failed"}, [
          el("td", {}, String(g.run + 1)),
          el("td", {class: "num"}, g.status === "ok" ? fmt(g.score) : g.status),
          el("td", {}, [
            judged ? (g.replies.length ? g.replies.map(function (r, i) {
              return el("pre", {class: "reply", title: g.replies.length > 1 ? "attempt " + (i + 1) : null}, r);
            }) : el("span", {class: "muted"}, "no reply")) : null,
            values.length ? el("div", {class: "small"}, values.join(" · ")) : null,
            g.error ? el("div", {class: "grade-error"}, g.error) : null,
            g.reported ? el("div", {class: "muted small"}, "API model: " + g.reported) : null,
          ]),
        ]);
      })),
    ]);
    var prediction = textBlock("Prediction · " + unit.model, s.prediction, "prediction");
    if (s.answer) prediction.appendChild(answerLine(s.answer));
    append(box, [
      el("div", {class: "detail-head"}, [el("h3", {}, "Sample " + s.id), scoreBadge(s)]),
      s.image ? el("a", {href: s.image, class: "detail-image", title: "open the image"}, imageOf(s, "full")) : imageOf(s, "full"),
      s.answer ? answerLegend(s.answer) : null,
      groupTags(unit, s),
      textBlock("Question", s.question, "question"),
      refList(s.references),
      prediction,
      el("div", {class: "field"}, [el("div", {class: "field-label"}, "Grades (0–100)"), grades]),
    ]);
  }

  renderers.samples = function (params) {
    if (!DATA.units.length) return;
    var key = params.get("unit");
    var unit = (key && unitByKey(key)) || browse.unit || DATA.units.filter(function (u) { return !u.style; })[0] || DATA.units[0];
    var wanted = params.get("sample");
    if (wanted && wanted !== browse.sample) { browse.sample = wanted; browse.jump = true; }
    if (!browse.unit || browse.unit.key !== unit.key) {
      selectUnit(unit.key);
      if (wanted) { browse.sample = wanted; browse.jump = true; }
    } else {
      renderSamples();
    }
  };

  // ------------------------------------------------------------------------------------------ compare

  var cmp = {unit: null, a: null, b: null, page: 0, sort: "abs", filter: ""};

  function compareControls() {
    var box = clear(document.getElementById("compare-controls"));
    var names = [];
    DATA.units.forEach(function (u) { if (names.indexOf(u.unit) < 0) names.push(u.unit); });
    var runs = DATA.units.filter(function (u) { return u.unit === cmp.unit; });
    var unitSel = el("select", {id: "compare-unit", onchange: function () {
      cmp.unit = unitSel.value; cmp.a = cmp.b = null; cmp.page = 0; cmp.filter = ""; renderCompare();
    }}, names.map(function (n) { return option(n, n, n === cmp.unit); }));
    var mk = function (id, value, onchange) {
      var sel = el("select", {id: id, onchange: function () { onchange(sel.value); }},
                   runs.map(function (u) { return option(u.key, unitLabel(u) + " · " + fmt(u.total && u.total.mean), u.key === value); }));
      return sel;
    };
    var a = unitByKey(cmp.a);
    var sortSel = el("select", {id: "compare-sort", onchange: function () { cmp.sort = sortSel.value; cmp.page = 0; renderCompare(); }}, [
      option("abs", "largest difference first", cmp.sort === "abs"),
      option("b", "B better first", cmp.sort === "b"),
      option("a", "A better first", cmp.sort === "a"),
      option("id", "dataset order", cmp.sort === "id"),
    ]);
    var controls = [
      el("label", {class: "control"}, [el("span", {}, "task"), unitSel]),
      el("label", {class: "control grow"}, [el("span", {class: "ab ab-a"}, "A"), mk("compare-a", cmp.a, function (v) { cmp.a = v; cmp.page = 0; renderCompare(); })]),
      el("label", {class: "control grow"}, [el("span", {class: "ab ab-b"}, "B"), mk("compare-b", cmp.b, function (v) { cmp.b = v; cmp.page = 0; renderCompare(); })]),
    ];
    if (a && a.breakdowns.length) {
      var b0 = a.breakdowns[0];
      var fsel = el("select", {id: "compare-filter", onchange: function () { cmp.filter = fsel.value; cmp.page = 0; renderCompare(); }},
                    [option("", "all", !cmp.filter)].concat(b0.values.map(function (v) { return option(v.value, v.label, cmp.filter === v.value); })));
      controls.push(el("label", {class: "control"}, [el("span", {}, b0.key), fsel]));
    }
    controls.push(el("label", {class: "control"}, [el("span", {}, "order"), sortSel]));
    append(box, controls);
  }

  function renderCompare() {
    if (!DATA.units.length) return;
    if (!cmp.unit) cmp.unit = (DATA.units.filter(function (u) { return !u.style; })[0] || DATA.units[0]).unit;
    var runs = DATA.units.filter(function (u) { return u.unit === cmp.unit; });
    if (!unitByKey(cmp.a) || unitByKey(cmp.a).unit !== cmp.unit) cmp.a = runs[0] ? runs[0].key : null;
    if (!unitByKey(cmp.b) || unitByKey(cmp.b).unit !== cmp.unit) cmp.b = runs.length > 1 ? runs[1].key : cmp.a;
    compareControls();
    var list = clear(document.getElementById("compare-list"));
    var warnings = clear(document.getElementById("compare-warnings"));
    var summary = clear(document.getElementById("compare-summary"));
    clear(document.getElementById("compare-pager"));
    setHash("compare", {unit: cmp.unit, a: cmp.a || "", b: cmp.b || ""});
    if (runs.length < 2) {
      summary.appendChild(document.createTextNode("Only one run has scored " + cmp.unit + "; a comparison needs two."));
    }
    var ua = unitByKey(cmp.a), ub = unitByKey(cmp.b);
    if (!ua || !ub) return;
    var diffs = [];
    if (ua.dataset_hash !== ub.dataset_hash) diffs.push("dataset (" + ua.dataset_hash.slice(0, 8) + " vs " + ub.dataset_hash.slice(0, 8) + ")");
    if (ua.judge.model !== ub.judge.model) diffs.push("judge model (" + ua.judge.model + " vs " + ub.judge.model + ")");
    if (ua.judge.template_hash !== ub.judge.template_hash) diffs.push("judge template");
    if ((ua.deviations || []).join("; ") !== (ub.deviations || []).join("; ")) diffs.push("protocol (A " + ua.protocol + ", B " + ub.protocol + ")");
    if (diffs.length) warnings.appendChild(el("p", {class: "warning"}, "⚠ A and B differ in " + diffs.join(", ") + ": differences in score are not only the models'."));
    list.appendChild(el("p", {class: "muted"}, "loading samples…"));
    Promise.all([loadUnit(ua), loadUnit(ub)]).then(function (both) { drawCompare(ua, ub, both[0], both[1]); }, function (err) {
      clear(list).appendChild(el("p", {class: "warning"}, String(err.message)));
    });
  }

  function drawCompare(ua, ub, pa, pb) {
    var byId = {};
    pb.samples.forEach(function (s) { byId[s.id] = s; });
    var pairs = pa.samples.filter(function (s) { return byId[s.id]; }).map(function (s) {
      var t = byId[s.id];
      var d = s.score === null || t.score === null ? null : Math.round((t.score - s.score) * 100) / 100;
      return {a: s, b: t, diff: d};
    });
    if (cmp.filter) pairs = pairs.filter(function (p) { return (p.a.groups[ua.breakdowns[0].key] || []).indexOf(cmp.filter) >= 0; });
    var better = {a: 0, b: 0, tie: 0};
    pairs.forEach(function (p) { if (p.diff !== null) better[p.diff > 0 ? "b" : p.diff < 0 ? "a" : "tie"] += 1; });
    var key = {abs: function (p) { return -Math.abs(p.diff); }, b: function (p) { return -p.diff; }, a: function (p) { return p.diff; }}[cmp.sort];
    if (key) {
      pairs = pairs.slice().sort(function (x, y) {
        if (x.diff === null) return y.diff === null ? 0 : 1;
        if (y.diff === null) return -1;
        return key(x) - key(y);
      });
    }
    var summary = clear(document.getElementById("compare-summary"));
    append(summary, [pairs.length + " shared samples · ", el("span", {class: "ab ab-b"}, "B"), " better on " + better.b + ", ",
                     el("span", {class: "ab ab-a"}, "A"), " better on " + better.a + ", tied on " + better.tie]);
    var list = clear(document.getElementById("compare-list"));
    var start = cmp.page * PAGE_SIZE;
    list.appendChild(el("div", {class: "compare-row compare-header"}, [
      el("div", {}, "sample"), el("div", {}, [el("span", {class: "ab ab-a"}, "A"), " " + unitLabel(ua)]),
      el("div", {}, [el("span", {class: "ab ab-b"}, "B"), " " + unitLabel(ub)]), el("div", {class: "num"}, "B − A"),
    ]));
    pairs.slice(start, start + PAGE_SIZE).forEach(function (p) {
      list.appendChild(el("div", {class: "compare-row", "data-sample": p.a.id}, [
        el("div", {class: "compare-sample"}, [
          el("a", {href: "#samples?unit=" + encodeURIComponent(ua.key) + "&sample=" + encodeURIComponent(p.a.id), class: "thumb-link"}, imageOf(p.a, "thumb")),
          el("div", {}, [el("div", {class: "sample-id"}, p.a.id), el("div", {class: "sample-q"}, p.a.question),
                         el("div", {class: "muted small"}, "ref: " + p.a.references.join(" | "))]),
        ]),
        el("div", {class: "compare-pred"}, [scoreBadge(p.a), el("div", {class: "pred-text"}, p.a.prediction)]),
        el("div", {class: "compare-pred"}, [scoreBadge(p.b), el("div", {class: "pred-text"}, p.b.prediction)]),
        el("div", {class: "num diff " + (p.diff > 0 ? "diff-pos" : p.diff < 0 ? "diff-neg" : "")},
           p.diff === null ? "–" : (p.diff > 0 ? "+" : "") + fmt(p.diff)),
      ]));
    });
    pager(document.getElementById("compare-pager"), pairs.length, cmp.page, function (pg) { cmp.page = pg; drawCompare(ua, ub, pa, pb); });
  }

  renderers.compare = function (params) {
    if (params.get("unit")) cmp.unit = params.get("unit");
    if (params.get("a")) cmp.a = params.get("a");
    if (params.get("b")) cmp.b = params.get("b");
    renderCompare();
  };

  // --------------------------------------------------------------------------------------------- start

  document.querySelectorAll("table.sortable").forEach(makeSortable);
  drawCharts();
  window.addEventListener("hashchange", showTab);
  showTab();
})();
