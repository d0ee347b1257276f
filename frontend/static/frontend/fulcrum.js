/* Fulcrum WebUI behaviour: live overview, apply with progress, toasts, report charts. No inline scripts. */
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function toast(text) {
    var el = document.getElementById("toast");
    if (!el || !text) return;
    el.textContent = text;
    el.classList.add("show");
    clearTimeout(el._t);
    el._t = setTimeout(function () { el.classList.remove("show"); }, 3500);
  }
  document.body.addEventListener("fulcrum:toast", function (e) { toast(e.detail && e.detail.text); });

  function api(method, url) {
    return fetch(url, {method: method, credentials: "same-origin",
      headers: {"X-CSRFToken": csrf, "Accept": "application/json", "X-Fulcrum-Poll": method === "GET" ? "1" : "0"}})
      .then(function (r) {
        if (!r.ok) return r.json().catch(function () { return {}; }).then(function (b) {
          throw new Error(b.detail || ("HTTP " + r.status)); });
        return r.json();
      });
  }

  /* ---------------------------------------------------------------- menu button (narrow screens) */
  // Below 900 px the main menu folds away behind a Menu button (CSS); without JS it stays open.
  (function () {
    var toggle = document.querySelector(".menu-toggle");
    var menu = document.getElementById("main-menu");
    if (!toggle || !menu) return;
    document.documentElement.classList.add("js");
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      menu.classList.toggle("open", open);
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && menu.classList.contains("open")) {
        menu.classList.remove("open"); toggle.setAttribute("aria-expanded", "false"); toggle.focus();
      }
    });
  })();

  /* ---------------------------------------------------------------- wide tables on narrow screens */
  // A table wider than the screen scrolls inside its frame; the frame is then reachable by keyboard.
  function focusableScrollers() {
    document.querySelectorAll(".table-wrap").forEach(function (w) {
      if (w.scrollWidth > w.clientWidth + 1) {
        if (!w.hasAttribute("tabindex")) {
          w.tabIndex = 0;
          w.setAttribute("role", "region");
          var cap = w.querySelector("caption");
          w.setAttribute("aria-label", cap ? cap.textContent + " (scrolls sideways)" : "Table (scrolls sideways)");
        }
      }
    });
  }
  focusableScrollers();
  window.addEventListener("resize", focusableScrollers);
  document.body.addEventListener("htmx:afterSettle", focusableScrollers);

  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  function setPending(n) {
    var card = document.getElementById("config-state");  // the overview's Configuration card
    if (card) card.textContent = n ? n + " pending" : "Applied";
    var banner = document.getElementById("pending-banner");
    var chip = document.getElementById("pending-chip");
    if (banner) {
      banner.hidden = !n;
      var c = banner.querySelector("[data-pending-count]");
      if (c) c.textContent = n === 1 ? "1 saved change is" : n + " saved changes are";
    }
    if (chip) {
      chip.className = "chip " + (n ? "pending" : "clean");
      chip.textContent = n ? n + " pending" : "Applied";
    }
  }

  /* ---------------------------------------------------------------- fields that depend on a choice */
  // data-shown-for="check_type http https": the field shows only while the form's check_type is one of
  // those. A field with an error always shows; hidden fields are still submitted (the server decides).
  function showDependentFields(form) {
    form.querySelectorAll("[data-shown-for]").forEach(function (input) {
      var words = input.dataset.shownFor.split(" ");
      var chooser = form.elements[words[0]];
      var box = input.closest(".field");
      if (!chooser || !box) return;
      box.hidden = words.indexOf(chooser.value) < 1 && !box.classList.contains("has-error");
    });
  }
  document.querySelectorAll("form").forEach(function (form) {
    if (!form.querySelector("[data-shown-for]")) return;
    showDependentFields(form);
    form.addEventListener("change", function () { showDependentFields(form); });
  });

  /* ---------------------------------------------------------------- live regions (htmx) */
  // <div class="live" hx-get="…" hx-trigger="every 2s" hx-headers='{"X-Fulcrum-Poll": "1"}'>: htmx polls
  // (a poll does not keep an idle session alive). Here: no polling from a hidden tab, no swap when
  // nothing changed (focus and selection stay), and data-updated says when the last answer came.
  function isPoll(elt) { return (elt.getAttribute("hx-trigger") || "").indexOf("every ") === 0; }
  document.body.addEventListener("htmx:beforeRequest", function (e) {
    if (document.hidden && isPoll(e.detail.elt)) e.preventDefault();
  });
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    if (isPoll(e.detail.elt) && e.detail.target.innerHTML === e.detail.serverResponse) e.detail.shouldSwap = false;
  });
  document.body.addEventListener("htmx:afterRequest", function (e) {
    if (isPoll(e.detail.elt) && e.detail.successful) e.detail.elt.dataset.updated = String(Date.now());
  });

  /* ---------------------------------------------------------------- System Overview, live */
  var overview = document.getElementById("overview");
  if (overview) {
    var busy = false;
    var query = overview.dataset.query || "";
    var liveUrl = overview.dataset.live + (query ? "?" + query : "");

    function setText(root, sel, value) {
      var el = root.querySelector(sel);
      if (el && el.textContent !== String(value)) el.textContent = value;
    }
    function setRowState(row, state, label, pending) {
      var cls = row.className.replace(/\bst-\w+\b/g, "").replace(/\bis-pending\b/g, "").trim();
      row.className = cls + " st-" + state + (pending ? " is-pending" : "");
      setText(row, ".pill.state .txt", label);
    }
    function applyLive(data) {
      if (data.sig !== overview.dataset.sig) { reloadTable(); return; }
      Object.keys(data.rs).forEach(function (id) {
        var row = overview.querySelector('tr[data-rs="' + id + '"]');
        if (!row) return;
        var v = data.rs[id];
        setRowState(row, v[0], v[1], v[4]);
        setText(row, ".c-active", v[2]);
        setText(row, ".c-inactive", v[3]);
        setText(row, ".c-weight", v[6]);
        setText(row, ".why", v[7]);
        row.querySelectorAll(".seg button").forEach(function (b) {
          var on = b.dataset.state === v[5];
          b.disabled = on;
          b.setAttribute("aria-pressed", on ? "true" : "false");
        });
      });
      Object.keys(data.vs).forEach(function (id) {
        var row = overview.querySelector('tr[data-vs="' + id + '"]');
        if (!row) return;
        var v = data.vs[id];
        setRowState(row, v[0], v[1], v[4]);
        setText(row, ".c-active", v[2]);
        setText(row, ".c-inactive", v[3]);
        var line = row.querySelector("svg.spark polyline");
        if (line && line.getAttribute("points") !== v[5]) line.setAttribute("points", v[5]);
      });
      Object.keys(data.summary).forEach(function (k) {
        document.querySelectorAll('[data-sum="' + k + '"]').forEach(function (el) {
          var val = data.summary[k];
          val = (typeof val === "number" && val % 1) ? val.toFixed(1) : val;
          if (el.textContent !== String(val)) el.textContent = val;
        });
      });
      setPending(data.pending);
      overview.dataset.updated = String(Date.now());
    }
    function reloadTable() {
      var url = window.location.pathname + "?" + (query ? query + "&" : "") + "fragment=1";
      fetch(url, {credentials: "same-origin", headers: {"X-Fulcrum-Poll": "1"}})
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var box = document.getElementById("overview-table");
          var tmp = document.createElement("div");
          tmp.innerHTML = html;
          var fresh = tmp.querySelector("#overview-table");
          if (box && fresh) {
            box.innerHTML = fresh.innerHTML;
            overview.dataset.sig = fresh.dataset.sig;
            if (window.htmx) window.htmx.process(box);
          }
        });
    }
    function poll() {
      if (busy || document.hidden) return;
      busy = true;
      api("GET", liveUrl).then(applyLive).catch(function () {}).finally(function () { busy = false; });
    }
    setInterval(poll, 2000);
    document.body.addEventListener("fulcrum:refresh", function () { busy = false; poll(); });
  }

  /* ---------------------------------------------------------------- Apply with a progress bar */
  var applyBox = document.getElementById("apply-box");
  if (applyBox) {
    var bar = applyBox.querySelector(".progress");
    var fill = bar.querySelector("div");
    var text = applyBox.querySelector("[data-progress-text]");
    var result = applyBox.querySelector("[data-result]");
    var button = document.getElementById("apply-start");

    function show(run) {
      var total = run.progress_total || 0, done = run.progress_done || 0;
      var pct = run.status === "success" ? 100 : (total ? Math.round(100 * done / total) : (run.status === "running" ? 5 : 0));
      fill.style.width = pct + "%";
      bar.setAttribute("aria-valuenow", String(pct));
      bar.classList.toggle("ok", run.status === "success");
      bar.classList.toggle("fail", run.status === "failed");
      text.textContent = run.status === "queued" ? "Queued…" :
        run.status === "running" ? ("Applying: " + done + " of " + total + " operations" + (run.progress_text ? " — " + run.progress_text : "")) :
        run.status === "success" ? "Finished: " + plural(run.operation_count, "operation") + " in " + Math.round(run.duration_ms || 0) + " ms" :
        "Failed, rolled back";
    }
    function finish(run) {
      var ok = run.status === "success";
      result.hidden = false;
      result.className = "result " + (ok ? "ok" : "fail");
      result.innerHTML = "";
      var h = document.createElement("strong");
      var ops = plural(run.operation_count, "operation");
      h.textContent = !ok ? "Apply failed; the kernel was rolled back."
        : run.dataplane === "render-only" ? ("Rendered only (render-only dataplane): " + ops + " computed; the kernel was not changed.")
        : ("Applied to the kernel: " + ops + ".");
      result.appendChild(h);
      if (run.error) { var p = document.createElement("p"); p.textContent = run.error; result.appendChild(p); }
      if (run.commands) {
        var pre = document.createElement("pre");
        pre.className = "code commands";
        pre.tabIndex = 0;
        pre.setAttribute("aria-label", "Kernel operations as commands");
        pre.textContent = run.commands;
        result.appendChild(pre);
      } else if (ok) {
        var q = document.createElement("p"); q.textContent = "The kernel already matched the configuration."; result.appendChild(q);
      }
      if (button) button.disabled = false;
      if (ok) {
        setPending(0);
        var head = document.getElementById("apply-h");
        if (head) head.textContent = run.dataplane === "render-only" ? "Rendered: nothing is waiting" : "Applied: the kernel matches the saved configuration";
        var intro = document.getElementById("apply-last");
        if (intro) intro.textContent = "Last successful apply: #" + run.id + " just now.";
        var pendingList = document.getElementById("chg-body");
        if (pendingList) pendingList.innerHTML = '<p class="muted">None: everything saved is applied.</p>';
      }
      toast(ok ? "Apply finished." : "Apply failed.");
      var hist = document.getElementById("apply-history");
      if (hist && window.htmx) window.htmx.ajax("GET", window.location.pathname, {target: "#apply-history", select: "#apply-history", swap: "outerHTML"});
    }
    function follow(id) {
      api("GET", applyBox.dataset.runs + id + "/").then(function (run) {
        show(run);
        if (run.status === "success" || run.status === "failed") finish(run);
        else setTimeout(function () { follow(id); }, 400);
      }).catch(function (e) { text.textContent = "Lost track of the apply: " + e.message; if (button) button.disabled = false; });
    }
    if (button) button.addEventListener("click", function () {
      button.disabled = true;
      result.hidden = true;
      fill.style.width = "0";
      text.textContent = "Starting…";
      api("POST", applyBox.dataset.start).then(function (run) { show(run); follow(run.id); })
        .catch(function (e) { text.textContent = "Could not start: " + e.message; button.disabled = false; });
    });
    if (applyBox.dataset.running) follow(applyBox.dataset.running);
  }

  /* ---------------------------------------------------------------- Reports */
  var charts = document.getElementById("charts");
  if (charts && window.uPlot) {
    var fmtBytes = function (v) {
      if (v == null) return "";
      var u = ["B/s", "kB/s", "MB/s", "GB/s"], i = 0;
      while (Math.abs(v) >= 1000 && i < u.length - 1) { v /= 1000; i++; }
      return v.toFixed(v < 10 && i ? 1 : 0) + " " + u[i];
    };
    fetch(charts.dataset.src, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (d) {
      var s = d.series;
      var width = Math.max(charts.clientWidth - 20, 300);
      if (!s[0].length) { charts.querySelectorAll(".chart").forEach(function (c) { c.textContent = "No samples in this range yet."; }); return; }
      new window.uPlot({title: "Connections — " + d.service, width: width, height: 240,
        series: [{}, {label: "Active", stroke: "#0b5cad", width: 2, fill: "rgba(11,92,173,.08)"},
                 {label: "Inactive", stroke: "#8a6bd1", width: 1.5},
                 {label: "New/s", stroke: "#2da44e", width: 1.5, scale: "rate"}],
        axes: [{}, {label: "connections"}, {side: 1, scale: "rate", label: "new per second", grid: {show: false}}]},
        [s[0], s[1], s[2], s[3]], document.getElementById("chart-conns"));
      new window.uPlot({title: "Throughput — " + d.service, width: width, height: 240,
        series: [{}, {label: "In", stroke: "#0b5cad", width: 2, fill: "rgba(11,92,173,.08)", value: function (u, v) { return fmtBytes(v); }},
                 {label: "Out", stroke: "#d4722c", width: 2, value: function (u, v) { return fmtBytes(v); }}],
        axes: [{}, {values: function (u, vals) { return vals.map(fmtBytes); }, size: 70}]},
        [s[0], s[4], s[5]], document.getElementById("chart-bytes"));
    });
  }

  // Copy buttons (the once-shown API token key): <button data-copy="element-id">.
  document.querySelectorAll("button[data-copy]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var source = document.getElementById(btn.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) { toast("Select the text and copy it by hand."); return; }
      navigator.clipboard.writeText(source.textContent.trim()).then(
        function () { toast("Copied."); }, function () { toast("Select the text and copy it by hand."); });
    });
  });
})();
