/* Network page: the rollback countdown of a waiting change, and a reload when its status moves. */
(function () {
  "use strict";
  var card = document.getElementById("network-change");
  if (!card) return;
  var counter = document.getElementById("network-countdown");
  var deadline = card.dataset.deadline ? Date.parse(card.dataset.deadline) : null;

  function tick() {
    if (!counter || !deadline) return;
    counter.textContent = String(Math.max(0, Math.ceil((deadline - Date.now()) / 1000)));
  }

  function poll() {
    fetch(card.dataset.changeUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) {
        if (c && c.status !== card.dataset.status) window.location.reload();
      })
      .catch(function () { /* cut off: the rollback brings the old address back */ });
  }

  tick();
  setInterval(tick, 1000);
  setInterval(poll, 2000);
})();
