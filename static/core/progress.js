// Progress bars of background work (imports, exports). An element with data-progress-url
// holds a Bootstrap .progress track with its .progress-bar and, optionally, an element with
// data-progress-label. The endpoint answers JSON {percent, label, finished}; the bar moves,
// and when the work has finished the page reloads to show the outcome. No inline script or
// style (Content Security Policy): the bar's width is set from here. Without JavaScript the
// page's own reload link does the same.
(function () {
  "use strict";
  const box = document.querySelector("[data-progress-url]");
  if (!box) return;
  const track = box.querySelector(".progress");
  const bar = box.querySelector(".progress-bar");
  const label = box.querySelector("[data-progress-label]");
  let delay = 1000;

  function show(percent, text) {
    const value = Math.max(0, Math.min(100, Number(percent) || 0));
    bar.style.width = value + "%";
    track.setAttribute("aria-valuenow", String(value));
    if (label && text) label.textContent = text;
  }

  function poll() {
    fetch(box.dataset.progressUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
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
        // Quick at first, then every few seconds: long runs take minutes.
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
