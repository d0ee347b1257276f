// Checklist partials: copy buttons (work on plain HTTP too) and the re-check button.
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

  function csrf(button) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return button.getAttribute("data-csrf") || (meta && meta.content) || "";
  }

  function recheck(button) {
    var box = button.closest("[data-checklist-url]");
    var url = box.getAttribute("data-checklist-url");
    button.disabled = true;
    button.textContent = "Checking…";
    fetch(url, {method: "POST", credentials: "same-origin", headers: {"X-CSRFToken": csrf(button)}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return poll(url, 60); })
      .then(function () { window.location.reload(); })
      .catch(function (e) { button.disabled = false; button.textContent = "Re-check failed (" + e.message + ")"; });
  }

  function poll(url, left) {
    return new Promise(function (resolve) { setTimeout(resolve, 1000); })
      .then(function () { return fetch(url, {credentials: "same-origin"}); })
      .then(function (r) { return r.json(); })
      .then(function (data) { return data.running && left > 0 ? poll(url, left - 1) : data; });
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest(".cl-copy, .cl-recheck");
    if (!button) return;
    if (button.classList.contains("cl-recheck")) return recheck(button);
    var source = document.getElementById(button.getAttribute("data-copy"));
    copy(source.textContent).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    });
  });
})();
