// Checklist partials: copy buttons (work on plain HTTP too). Re-check and the refresh while the probes
// run are htmx attributes on the partial itself.
(function () {
  if (window.fulcrumChecklists) return;
  window.fulcrumChecklists = true;

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest(".cl-copy");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    copy(source.textContent).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    });
  });
})();
