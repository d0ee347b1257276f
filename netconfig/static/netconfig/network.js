/* Network page: the rollback countdown of a waiting change. The reload when its status moves is htmx's
   (hx-get every 2s on #network-change; the server answers HX-Refresh, netconfig/views.py). */
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

  tick();
  setInterval(tick, 1000);
})();
