// The pipeline board: drag a card to another column to move the opportunity.
// Plain HTML5 drag and drop and fetch; the card's own Move form is the keyboard and
// no-script alternative. The card moves at once and goes back if the server refuses.
(function () {
  "use strict";
  const board = document.querySelector("[data-board]");
  if (!board) return;
  const csrfInput = document.querySelector("[name=csrfmiddlewaretoken]");
  const csrf = csrfInput ? csrfInput.value : "";
  const alertBox = document.getElementById("board-alert");
  let dragged = null;

  function column(stageId) {
    return board.querySelector('.board-column[data-stage="' + stageId + '"]');
  }

  function showMessage(kind, text, link) {
    if (!alertBox) return;
    const alert = document.createElement("div");
    alert.className = "alert alert-" + kind + " alert-dismissible fade show d-flex flex-wrap align-items-center gap-2";
    alert.setAttribute("role", kind === "danger" ? "alert" : "status");
    const span = document.createElement("span");
    span.textContent = text;
    alert.appendChild(span);
    if (link) {
      const a = document.createElement("a");
      a.className = "btn btn-sm btn-success";
      a.href = link;
      a.textContent = board.dataset.msgCreateOrder;
      alert.appendChild(a);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("data-bs-dismiss", "alert");
    close.setAttribute("aria-label", "×");
    alert.appendChild(close);
    alertBox.replaceChildren(alert);
  }

  function updateTotals(totals) {
    Object.keys(totals || {}).forEach(function (stageId) {
      const col = column(stageId);
      if (!col) return;
      const t = totals[stageId];
      const set = function (role, value) {
        const el = col.querySelector('[data-role="' + role + '"]');
        if (el) el.textContent = value;
      };
      set("count", t.count);
      set("amount", t.amount);
      set("weighted", t.weighted);
      // "Show all N" only while the column holds fewer cards than it counts.
      const showAll = col.querySelector('[data-role="show-all"]');
      if (showAll) {
        const shown = col.querySelectorAll(".board-card").length;
        showAll.classList.toggle("d-none", t.count <= shown);
        const link = showAll.querySelector("a");
        if (link) link.textContent = link.textContent.replace(/\d+/, t.count);
      }
    });
  }

  // Resolves with the reason typed in the modal, or null when the person cancels.
  function askLostReason() {
    const modalEl = document.getElementById("lost-reason-modal");
    if (!modalEl || !window.bootstrap) {
      const reason = window.prompt(document.getElementById("lost-reason-title")?.textContent || "?");
      return Promise.resolve(reason && reason.trim() ? reason.trim() : null);
    }
    const form = document.getElementById("lost-reason-form");
    const input = document.getElementById("lost-reason-input");
    const modal = window.bootstrap.Modal.getOrCreateInstance(modalEl);
    input.value = "";
    return new Promise(function (resolve) {
      let answer = null;
      function onSubmit(event) {
        event.preventDefault();
        if (!input.value.trim()) {
          input.focus();
          return;
        }
        answer = input.value.trim();
        modal.hide();
      }
      function onShown() {
        input.focus();
      }
      function onHidden() {
        form.removeEventListener("submit", onSubmit);
        modalEl.removeEventListener("shown.bs.modal", onShown);
        modalEl.removeEventListener("hidden.bs.modal", onHidden);
        resolve(answer);
      }
      form.addEventListener("submit", onSubmit);
      modalEl.addEventListener("shown.bs.modal", onShown);
      modalEl.addEventListener("hidden.bs.modal", onHidden);
      modal.show();
    });
  }

  function move(card, targetColumn, lostReason) {
    const origin = { parent: card.parentNode, next: card.nextSibling };
    const list = targetColumn.querySelector("[data-dropzone]");
    list.prepend(card);
    card.classList.add("board-card-pending");
    card.setAttribute("aria-busy", "true");

    const body = new FormData();
    body.append("stage", targetColumn.dataset.stage);
    body.append("lost_reason", lostReason || "");
    body.append("board_query", board.dataset.boardQuery || "");
    fetch(card.dataset.moveUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "X-Requested-With": "fetch", Accept: "application/json" },
    })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            if (!response.ok || !data.ok) throw new Error(data.error || board.dataset.msgError);
            return data;
          });
      })
      .then(function (data) {
        card.dataset.stage = String(data.stage);
        const select = card.querySelector("select[name=stage]");
        if (select) select.value = String(data.stage);
        const probability = card.querySelector('[data-role="probability"]');
        if (probability) probability.textContent = data.probability + "%";
        updateTotals(data.column_totals);
        showMessage("success", data.message, data.order_url);
      })
      .catch(function (error) {
        origin.parent.insertBefore(card, origin.next);
        showMessage("danger", error && error.message && !(error instanceof TypeError) ? error.message : board.dataset.msgError);
      })
      .finally(function () {
        card.classList.remove("board-card-pending");
        card.removeAttribute("aria-busy");
      });
  }

  board.addEventListener("dragstart", function (event) {
    const card = event.target.closest ? event.target.closest(".board-card") : null;
    if (!card) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.id);
    // Let the browser take its drag image before the card fades.
    window.requestAnimationFrame(function () {
      card.classList.add("board-card-dragging");
    });
  });

  board.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("board-card-dragging");
    dragged = null;
    board.querySelectorAll(".board-drop-target").forEach(function (el) {
      el.classList.remove("board-drop-target");
    });
  });

  board.addEventListener("dragover", function (event) {
    const col = event.target.closest ? event.target.closest(".board-column") : null;
    if (!dragged || !col) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    if (!col.classList.contains("board-drop-target")) {
      board.querySelectorAll(".board-drop-target").forEach(function (el) {
        el.classList.remove("board-drop-target");
      });
      col.classList.add("board-drop-target");
    }
  });

  board.addEventListener("dragleave", function (event) {
    const col = event.target.closest ? event.target.closest(".board-column") : null;
    if (col && !col.contains(event.relatedTarget)) col.classList.remove("board-drop-target");
  });

  board.addEventListener("drop", function (event) {
    const col = event.target.closest ? event.target.closest(".board-column") : null;
    if (!dragged || !col) return;
    event.preventDefault();
    col.classList.remove("board-drop-target");
    const card = dragged;
    card.classList.remove("board-card-dragging");
    dragged = null;
    if (col.dataset.stage === card.dataset.stage) return;
    if (col.dataset.kind === "lost") {
      askLostReason().then(function (reason) {
        if (reason) move(card, col, reason);
      });
    } else {
      move(card, col, "");
    }
  });
})();
