/* Fulcrum WebUI behaviour: htmx hooks for the live parts, toasts, menu, dependent fields, report charts. No inline scripts. */
(function () {
  "use strict";
  function toast(text) {
    var el = document.getElementById("toast");
    if (!el || !text) return;
    el.textContent = text;
    el.classList.add("show");
    clearTimeout(el._t);
    el._t = setTimeout(function () { el.classList.remove("show"); }, 3500);
  }
  document.body.addEventListener("fulcrum:toast", function (e) { toast(e.detail && e.detail.text); });

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
  // Every live part is an element that htmx polls (hx-trigger="every 2s", hx-headers X-Fulcrum-Poll: a poll
  // does not keep an idle session alive) for a server-rendered partial: the real server's health, the
  // kernel's live table, the System Overview (morphed in place by idiomorph, with the tiles and the
  // pending chip out of band) and a running apply's progress. Here, for all of them: no polling from a
  // hidden tab, no swap when the answer is the same as the last one (focus and selection stay, no work
  // on 1,000 rows), and data-updated says when the last answer came.
  function isPoll(elt) { return (elt.getAttribute("hx-trigger") || "").indexOf("every ") === 0; }
  document.body.addEventListener("htmx:beforeRequest", function (e) {
    if (document.hidden && isPoll(e.detail.elt)) e.preventDefault();
  });
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    var elt = e.detail.elt;
    if (!isPoll(elt) || !e.detail.shouldSwap) return;
    if (elt._lastAnswer === e.detail.serverResponse) e.detail.shouldSwap = false;
    elt._lastAnswer = e.detail.serverResponse;
  });
  document.body.addEventListener("htmx:afterRequest", function (e) {
    if (isPoll(e.detail.elt) && e.detail.successful) e.detail.elt.dataset.updated = String(Date.now());
  });

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
