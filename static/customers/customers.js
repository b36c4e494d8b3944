// Customer pages: bulk selection on the ledger, and "show" buttons for masked fields.
(function () {
  "use strict";

  // --- bulk selection ---------------------------------------------------------------
  const bar = document.getElementById("bulk-bar");
  if (bar) {
    const checks = Array.from(document.querySelectorAll(".bulk-check"));
    const toggle = document.getElementById("bulk-toggle");
    const ids = document.getElementById("bulk-ids");
    const selectAll = document.getElementById("bulk-select-all");
    const allMatching = document.getElementById("bulk-all-matching");
    const count = document.getElementById("bulk-count");
    const action = document.getElementById("bulk-action");

    const refresh = function () {
      const chosen = checks.filter((c) => c.checked).map((c) => c.value);
      ids.value = chosen.join(",");
      selectAll.value = "";
      count.textContent = chosen.length;
      bar.classList.toggle("d-none", chosen.length === 0);
      bar.classList.toggle("d-flex", chosen.length > 0);
      allMatching.classList.toggle("d-none", !(toggle && toggle.checked));
    };
    checks.forEach((c) => c.addEventListener("change", refresh));
    if (toggle) {
      toggle.addEventListener("change", function () {
        checks.forEach((c) => { c.checked = toggle.checked; });
        refresh();
      });
    }
    allMatching.addEventListener("click", function () {
      selectAll.value = "on";
      count.textContent = allMatching.dataset.label || "∞";
      allMatching.classList.add("d-none");
    });
    action.addEventListener("change", function () {
      document.querySelectorAll(".bulk-param").forEach(function (el) {
        el.classList.toggle("d-none", !el.dataset.for.split(" ").includes(action.value));
      });
    });
  }

  // --- reveal masked personal data (each reveal is logged on the server) --------------
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]");
  document.querySelectorAll("[data-reveal-url]").forEach(function (button) {
    button.addEventListener("click", function () {
      button.disabled = true;
      fetch(button.dataset.revealUrl, {
        method: "POST",
        headers: { "X-CSRFToken": csrf ? csrf.value : "", "X-Requested-With": "fetch" },
        credentials: "same-origin",
      })
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
        .then(function (data) {
          const target = document.getElementById(button.dataset.target);
          target.textContent = data.value;
          button.remove();
        })
        .catch(function () {
          button.disabled = false;
          button.classList.add("btn-outline-danger");
        });
    });
  });
})();
