// The customer pool: "select all on this page" for the assignment.
(function () {
  "use strict";
  const toggle = document.getElementById("pool-toggle");
  if (toggle) {
    toggle.addEventListener("change", function () {
      document.querySelectorAll(".pool-check").forEach(function (c) { c.checked = toggle.checked; });
    });
  }
})();
