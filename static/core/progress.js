// Progress bars of background work (imports, exports): an element with data-progress-url is
// refreshed from that JSON endpoint ({running, processed, total, percent}) every 1.5 s; when
// the work is finished the page reloads to show the outcome. Without JavaScript, the page's
// own "refresh" link does the same.
(function () {
  "use strict";
  const box = document.querySelector("[data-progress-url]");
  if (!box) return;
  const bar = box.querySelector(".progress-bar");
  const counter = box.querySelector("[data-progress-count]");
  const poll = function () {
    fetch(box.dataset.progressUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => response.json())
      .then((data) => {
        bar.style.width = data.percent + "%";
        bar.setAttribute("aria-valuenow", data.percent);
        bar.textContent = data.percent + "%";
        if (counter) counter.textContent = data.processed + " / " + data.total;
        if (data.running) {
          window.setTimeout(poll, 1500);
        } else {
          window.location.reload();
        }
      })
      .catch(() => window.setTimeout(poll, 5000));
  };
  window.setTimeout(poll, 1000);
})();
