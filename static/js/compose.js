// Compose's attachments: the files picked (several at a time, and again to add more) are listed
// with their names and sizes and a Remove button each; their total is checked against the
// limit before anything is uploaded. Without this script the file input still takes several
// files and the server checks the limit.
"use strict";

(() => {
  const form = document.querySelector("form[data-compose]");
  const input = form && form.querySelector("[data-attachment-input]");
  if (!input || typeof DataTransfer !== "function") return;
  const list = form.querySelector("[data-attachment-list]");
  const summary = form.querySelector("[data-attachment-summary]");
  const errors = form.querySelector("[data-attachment-errors]");
  const limit = Number(form.dataset.maxBytes);
  const limitWords = form.dataset.maxWords;
  const helpId = summary.id;
  let files = [];

  const sizeWords = (size) => {
    if (size >= 1024 * 1024) {
      return `${(size / (1024 * 1024)).toFixed(1).replace(/\.0$/, "")} MB`;
    }
    return `${Math.max(1, Math.round(size / 1024))} KB`;
  };
  const total = () => files.reduce((sum, file) => sum + file.size, 0);

  const showError = (message) => {
    errors.replaceChildren();
    if (message) {
      const item = document.createElement("li");
      item.textContent = message;
      errors.append(item);
    }
    errors.hidden = !message;
    input.setAttribute("aria-describedby", message ? `${helpId} ${errors.id}` : helpId);
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  };

  const tooLarge = () => {
    const sum = total();
    if (sum <= limit) return "";
    return `The attachments total ${sizeWords(sum)}; a message may carry at most ` +
      `${limitWords}. Remove some files before sending.`;
  };

  const syncInput = () => {
    const transfer = new DataTransfer();
    files.forEach((file) => transfer.items.add(file));
    input.files = transfer.files;
  };

  const render = () => {
    list.replaceChildren(...files.map((file, index) => {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.className = "attachment-name";
      name.textContent = file.name;
      const size = document.createElement("span");
      size.className = "muted";
      size.textContent = ` (${sizeWords(file.size)}) `;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "small";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove ${file.name}`);
      remove.dataset.index = String(index);
      item.append(name, size, remove);
      return item;
    }));
    list.hidden = files.length === 0;
    const count = files.length === 1 ? "1 file" : `${files.length} files`;
    summary.textContent = files.length
      ? `${count}, ${sizeWords(total())} of at most ${limitWords} in all.`
      : `Several files, up to ${limitWords} in all.`;
    showError(tooLarge());
  };

  input.addEventListener("change", () => {
    // Picking again adds to the files already listed, as a mail program does.
    const known = new Set(files.map((f) => `${f.name}\u0000${f.size}\u0000${f.lastModified}`));
    for (const file of input.files) {
      const key = `${file.name}\u0000${file.size}\u0000${file.lastModified}`;
      if (!known.has(key)) files.push(file);
      known.add(key);
    }
    syncInput();
    render();
  });

  list.addEventListener("click", (event) => {
    const remove = event.target.closest("button[data-index]");
    if (!remove) return;
    const index = Number(remove.dataset.index);
    files.splice(index, 1);
    syncInput();
    render();
    // Keep the keyboard where it was: the next file's Remove, the previous one's, or the picker.
    const buttons = list.querySelectorAll("button[data-index]");
    (buttons[Math.min(index, buttons.length - 1)] || input).focus();
  });

  form.addEventListener("submit", (event) => {
    const problem = tooLarge();
    if (!problem) return;
    event.preventDefault();
    showError(problem);
    input.focus();
  });

  // Files picked before this deferred script ran are listed and checked like any others.
  files = Array.from(input.files);
  if (files.length) render();
})();
