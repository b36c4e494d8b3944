// Behaviour every page shares. Pages carry no inline scripts or event handlers (the
// Content-Security-Policy forbids them): they mark elements with data attributes instead.
(function () {
  "use strict";

  // <form data-confirm="Question?"> (or a submit button with it): ask before submitting.
  document.addEventListener("submit", function (event) {
    const submitter = event.submitter;
    const message =
      (submitter && submitter.dataset.confirm) || event.target.dataset.confirm;
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // <select data-autosubmit>: submit the form as soon as a choice is made.
  document.addEventListener("change", function (event) {
    const field = event.target;
    if (field.matches && field.matches("[data-autosubmit]") && field.form) {
      field.form.submit();
    }
  });

  // <div class="progress-bar" data-progress="73">: the bar's width, in percent.
  document.querySelectorAll("[data-progress]").forEach(function (bar) {
    const value = Math.max(0, Math.min(100, Number(bar.dataset.progress) || 0));
    bar.style.width = value + "%";
  });
})();
