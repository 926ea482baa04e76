// Small progressive enhancements; every page works without them.
"use strict";

document.addEventListener("click", (event) => {
  // Close the user menu when clicking elsewhere.
  document.querySelectorAll("details.usermenu[open]").forEach((menu) => {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  });
  // Copy buttons: <button data-copy-target="#id">.
  const copy = event.target.closest("[data-copy-target]");
  if (copy) {
    const field = document.querySelector(copy.dataset.copyTarget);
    if (field) {
      navigator.clipboard.writeText(field.value).then(
        () => { copy.textContent = "Copied"; },
        () => { field.select(); },
      );
    }
  }
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    document.querySelectorAll("details.usermenu[open]").forEach((menu) => {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    });
  }
});
