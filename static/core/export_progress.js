// The export status page: asks the server for the job's progress (JSON) and moves the bar;
// when the file is ready, or the export failed, the page reloads to show the outcome. No
// inline script or style (Content Security Policy): the bar's width is set from here.
(function () {
  "use strict";
  const box = document.querySelector("[data-export-progress]");
  if (!box) return;
  const track = box.querySelector(".progress");
  const bar = box.querySelector(".progress-bar");
  const label = box.querySelector("[data-export-label]");
  let delay = 1000;

  function show(percent, text) {
    const value = Math.max(0, Math.min(100, Number(percent) || 0));
    bar.style.width = value + "%";
    track.setAttribute("aria-valuenow", String(value));
    if (label && text) label.textContent = text;
  }

  function poll() {
    fetch(box.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        show(data.percent, data.label);
        if (data.finished) {
          window.location.reload();
          return;
        }
        // Quick at first, then every few seconds: long exports take minutes.
        delay = Math.min(delay * 1.5, 5000);
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        window.setTimeout(poll, 10000);
      });
  }

  show(track.getAttribute("aria-valuenow"));
  window.setTimeout(poll, delay);
})();
