// An inbound mailbox's "Who sees its mail": the Users list is disabled (out of the Tab order,
// announced as unavailable) while "All users" is chosen, and enabled with "Chosen users".
// Without this script the list stays usable and the server ignores it under All users.
"use strict";

(() => {
  document.querySelectorAll("[data-viewers]").forEach((viewers) => {
    const form = viewers.closest("form");
    const list = viewers.querySelector("select");
    const radios = form ? [...form.querySelectorAll('input[type="radio"][name="visibility"]')] : [];
    if (!list || radios.length === 0) return;
    const update = () => {
      const chosen = radios.find((radio) => radio.checked);
      list.disabled = !chosen || chosen.value !== "chosen";
    };
    radios.forEach((radio) => radio.addEventListener("change", update));
    update();
  });
})();
