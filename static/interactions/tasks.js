// Team tasks: tick tasks, then reassign them in one go.
(function () {
  "use strict";
  const form = document.getElementById("reassign-form");
  if (!form) return;
  const ids = document.getElementById("reassign-ids");
  const count = document.getElementById("reassign-count");
  const checks = Array.from(document.querySelectorAll(".task-check"));
  checks.forEach(function (check) {
    check.addEventListener("change", function () {
      const chosen = checks.filter((c) => c.checked).map((c) => c.value);
      ids.value = chosen.join(",");
      count.textContent = chosen.length;
      form.classList.toggle("d-none", chosen.length === 0);
      form.classList.toggle("d-flex", chosen.length > 0);
    });
  });
})();
