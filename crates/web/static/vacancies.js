// The operator's vacancy page (templates/directory/vacancies.html): big −/+ buttons beside each
// day's number and "fill empty days with the day before". Progressive enhancement only: without
// JavaScript the number inputs and the one submit button do everything. No inline script (CSP).
"use strict";

(() => {
  const form = document.querySelector("form[data-vacancy-form]");
  if (!form) return;
  const MIN = 0;
  const MAX = 999;
  const value = (input) => {
    const n = parseInt(input.value, 10);
    return Number.isNaN(n) ? null : n;
  };
  const set = (input, n) => {
    input.value = String(Math.min(MAX, Math.max(MIN, n)));
    input.dispatchEvent(new Event("input", { bubbles: true }));
    const row = input.closest(".vrow");
    if (row) row.classList.add("changed");
  };
  form.querySelectorAll("button[data-step]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => {
      const input = document.getElementById(button.dataset.for);
      if (!input) return;
      const step = parseInt(button.dataset.step, 10) || 0;
      const current = value(input);
      // An empty day starts from 0: "−" leaves it at 0, "+" makes it 1.
      set(input, (current === null ? 0 : current) + (current === null && step < 0 ? 0 : step));
    });
  });
  form.querySelectorAll("input.vrow-beds").forEach((input) => {
    input.addEventListener("input", () => {
      const row = input.closest(".vrow");
      if (row) row.classList.add("changed");
    });
  });
  const fill = form.querySelector("[data-fill-empty]");
  if (fill) {
    fill.hidden = false;
    fill.addEventListener("click", () => {
      let previous = null;
      form.querySelectorAll("input.vrow-beds").forEach((input) => {
        const n = value(input);
        if (n === null && previous !== null) {
          set(input, previous);
        } else if (n !== null) {
          previous = n;
        }
      });
    });
  }
})();
