// Cloud Drive: browse My Files / Shared With Me / Sites (followed sites, a search for sites, a site's
// document libraries, each library browsed like My Files) without page reloads, Search, Load more, sort, Refresh,
// New Folder, Upload File (one or several files, picked or dropped on the dashlet, in one queue
// with Cancel per file; each up to 4 MiB in one request, else in parts, with a progress bar and
// Cancel), Copy Link (for the organization, or for anyone when the admin allows it and the user
// picks it), Rename, Move (to a folder picked in a small folder browser of the same drive) and
// Delete. A name already taken (rename, move, upload) asks: Keep both, Replace or Cancel. A folder that fails to open while OneDrive is busy offers Try again.
// Every link is also a real page, so it all degrades to the full-page view without script.
// State-changing calls send the X-CSRFToken header.
"use strict";
(() => {
  const FOLDER_KINDS = new Set(["folder", "site", "library"]);  // rows that open, listed first
  const csrfToken = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value === null || value === undefined || value === false) return;
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    });
    children.flat().forEach((child) => {
      if (child !== null && child !== undefined) {
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
    });
    return node;
  }

  async function call(method, url, body) {
    const headers = { Accept: "application/json", "X-CSRFToken": csrfToken() };
    const options = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (error) {
      return { ok: false, status: 0, body: { error: "Could not reach the CRM. Please try again." } };
    }
    const type = response.headers.get("Content-Type") || "";
    let data = {};
    if (type.includes("application/json")) data = await response.json();
    else if (!response.ok || response.redirected) {
      data = { error: "Your session has ended. Please reload the page and log in." };
    }
    return { ok: response.ok && !response.redirected, status: response.status, body: data };
  }

  // One XHR (for upload progress); resolves to { ok, status, body }.
  function send(xhrHolder, method, url, headers, payload, onProgress) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhrHolder.xhr = xhr;
      xhr.open(method, url);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      Object.entries(headers).forEach(([key, value]) => xhr.setRequestHeader(key, value));
      xhr.upload.onprogress = (event) => onProgress(event.loaded);
      const finish = (status, body) => { xhrHolder.xhr = null; resolve({ ok: status >= 200 && status < 300, status, body }); };
      xhr.onload = () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText || "{}"); } catch (error) { body = { error: "Unexpected answer from the CRM." }; }
        finish(xhr.status, body);
      };
      xhr.onerror = () => finish(0, { error: "The upload was interrupted. Please try again." });
      xhr.onabort = () => finish(0, { cancelled: true });
      xhr.send(payload);
    });
  }

  class DrivePanel {
    constructor(root) {
      this.root = root;
      this.q = (selector) => root.querySelector(selector);
      this.rows = this.q("[data-drive-rows]");
      this.statusBox = this.q("[data-drive-status]");
      this.listing = null;
      this.current = root.dataset.children;
      this.upload = null;
      this.queue = [];  // files waiting, uploading or done, in the order they came
      this.asking = false;  // a name conflict is waiting for the user's answer
      // Who a Copy Link may be for, scope to label, the default first; with two the user picks.
      this.linkScopes = new Map(JSON.parse(root.dataset.linkScopes || '[["organization", ""]]'));
      this.q("[data-drive-tools]").hidden = false;
      root.addEventListener("click", (event) => this.onClick(event));
      this.q("[data-drive-upload]").addEventListener("change", (event) => this.onFile(event));
      this.q("[data-drive-folder-form]").addEventListener("submit", (event) => {
        event.preventDefault();
        this.createFolder(false);
      });
      this.q("[data-drive-cancel]").addEventListener("click", () => this.cancelUpload());
      root.addEventListener("dragover", (event) => this.onDrag(event));
      root.addEventListener("dragleave", (event) => {
        if (!root.contains(event.relatedTarget)) root.classList.remove("drive-dropping");
      });
      root.addEventListener("drop", (event) => this.onDrop(event));
      this.q("[data-drive-search]").addEventListener("submit", (event) => {
        event.preventDefault();
        this.search();
      });
      this.picker = new FolderPicker(this);
      this.preview = new Preview(this);
      if (root.dataset.listing) this.render(JSON.parse(root.dataset.listing), false);
      else this.load(this.current);
    }

    status(text, kind, extra) {
      this.statusBox.replaceChildren();
      this.statusBox.hidden = !text;
      if (!text) return;
      this.statusBox.append(el("span", { className: `drive-${kind || "info"}` }, text));
      if (extra) this.statusBox.append(" ", extra);
    }

    // Show the error; `retry` (a function) is offered as Try again when the same call may work
    // in a moment (OneDrive busy or slow, the CRM out of reach).
    fail(result, retry) {
      const body = result.body || {};
      let extra = null;
      if (body.reconnect_url) extra = el("a", { href: body.reconnect_url }, "Open External Accounts");
      else if (body.reauthenticate_url) extra = el("a", { className: "button small primary", href: body.reauthenticate_url }, "Reauthenticate");
      else if (body.back) extra = el("a", { className: "button small", href: body.back.href, dataset: { api: body.back.api } }, body.back.label);
      else if (retry && (body.retry || result.status === 0)) extra = this.retryButton(retry);
      // Sites the account may not list, or a site that is gone: what was shown no longer holds.
      if (body.reauthenticate_url || body.back) this.clearRows();
      this.status(body.error || "Something went wrong. Please try again.", "error", extra);
    }

    clearRows() {
      this.rows.replaceChildren();
      this.q("[data-drive-empty]").hidden = true;
      this.q("[data-drive-more-box]").hidden = true;
    }

    retryButton(retry) {
      const button = el("button", { type: "button", className: "small", dataset: { driveRetry: "" } }, "Try again");
      button.addEventListener("click", async () => {
        button.disabled = true;
        await retry();
        if (button.isConnected) this.status("");  // worked (Load more leaves the status alone)
        // The button is gone now: keep the keyboard in the panel.
        const again = this.statusBox.querySelector("[data-drive-retry]");
        (again || this.q("[data-drive-refresh]")).focus();
      });
      return button;
    }

    async load(url, append) {
      const loading = this.q("[data-drive-loading]");
      this.root.setAttribute("aria-busy", "true");
      const result = await call("GET", url);
      this.root.removeAttribute("aria-busy");
      if (loading) loading.remove();
      if (!result.ok) { this.fail(result, () => this.load(url, append)); return; }
      if (!append) this.status("");
      this.render(result.body, append);
    }

    render(listing, append) {
      this.listing = listing;
      if (!append) {
        this.current = listing.self;
        this.q("[data-drive-refresh]").href = listing.crumbs[listing.crumbs.length - 1].href;
      }
      this.root.querySelectorAll("[data-drive-tab]").forEach((tab) => {
        if (tab.dataset.driveTab === listing.view) tab.setAttribute("aria-current", "page");
        else tab.removeAttribute("aria-current");
      });
      this.renderCrumbs(listing.crumbs);
      const searchForm = this.q("[data-drive-search]");
      searchForm.hidden = !listing.searchable;
      if (!append) searchForm.querySelector("input[type=search]").value = listing.query || "";
      searchForm.querySelector("[data-drive-search-label]").textContent = listing.search_label;
      this.renderSort(listing);
      this.q("[data-drive-tools]").classList.toggle("drive-disabled", !listing.writable);
      this.q("[data-drive-tools]").querySelectorAll("button, input").forEach((control) => { control.disabled = !listing.writable; });
      if (!append) this.rows.replaceChildren();
      listing.rows.forEach((row) => this.insertRow(row));
      const empty = this.q("[data-drive-empty]");
      empty.textContent = listing.empty;
      empty.hidden = this.rows.children.length > 0;
      const moreBox = this.q("[data-drive-more-box]");
      moreBox.hidden = !listing.more;
      if (listing.more) {
        const more = this.q("[data-drive-more]");
        more.href = listing.more.href;
        more.dataset.api = listing.more.api;
      }
    }

    renderCrumbs(crumbs) {
      const list = this.q("[data-drive-crumbs]");
      list.replaceChildren(...crumbs.map((crumb, index) => el("li", {},
        index === crumbs.length - 1
          ? el("span", { "aria-current": "location" }, crumb.label)
          : el("a", { href: crumb.href, dataset: { api: crumb.api } }, crumb.label))));
    }

    renderSort(listing) {
      ["name", "modified"].forEach((key) => {
        const link = this.q(`[data-drive-sort="${key}"]`);
        link.href = listing.sorts[key].href;
        link.dataset.api = listing.sorts[key].api;
        const th = link.closest("th");
        if (listing.sort === key) th.setAttribute("aria-sort", listing.order === "asc" ? "ascending" : "descending");
        else th.removeAttribute("aria-sort");
      });
    }

    insertRow(row) {
      const tr = this.rowElement(row);
      const existing = this.rows.querySelector(`tr[data-id="${CSS.escape(row.id)}"]`);
      if (existing) { existing.replaceWith(tr); return; }
      if (row.folder) {
        // Before the first file: sites and libraries open like folders and keep their order.
        const firstFile = [...this.rows.children].find((other) => other.dataset.kind && !FOLDER_KINDS.has(other.dataset.kind));
        this.rows.insertBefore(tr, firstFile || null);
      } else {
        this.rows.append(tr);
      }
    }

    rowElement(row) {
      const name = row.folder
        ? el("a", { href: row.href, dataset: { api: row.api } }, row.name)
        : el("a", { href: row.download }, row.name);
      const where = row.in
        ? el("span", { className: "drive-in" }, row.in.known ? "in " : null,
          el("a", { href: row.in.href, dataset: { api: row.in.api } }, row.in.label,
            row.in.known ? null : el("span", { className: "visually-hidden" }, ` of “${row.name}”`)))
        : null;
      const actions = el("td", { className: "drive-col-actions" });
      if (this.listing && this.listing.actions === false) return this.plainRow(row, name, actions);
      if (!row.folder) actions.append(el("a", { className: "button small", href: row.download }, "Download"), " ");
      if (row.preview || row.text_preview) {
        const data = row.text_preview ? { preview: "", text: row.text_preview } : { preview: "" };
        actions.append(el("a", { className: "button small", href: row.preview || row.download, dataset: data },
          "Preview"), " ");
      }
      if (row.web_url) {
        actions.append(el("a", { className: "button small", href: row.web_url, target: "_blank", rel: "noopener" },
          "Open in Office for the web", el("span", { className: "visually-hidden" }, " (opens in a new tab)")), " ");
      }
      if (this.listing && this.listing.writable) {
        actions.append(
          el("button", { type: "button", className: "small", dataset: { action: "rename" } }, "Rename"), " ",
          el("button", { type: "button", className: "small", dataset: { action: "move" } }, "Move"), " ");
      }
      actions.append(
        el("button", { type: "button", className: "small", dataset: { action: "link" } }, "Copy Link"), " ",
        el("button", { type: "button", className: "small drive-delete", dataset: { action: "delete" } }, "Delete"),
      );
      return this.plainRow(row, name, actions, where);
    }

    // A row without actions (a site, a library) or with the given action cell.
    plainRow(row, name, actions, where) {
      return el("tr", { dataset: { id: row.id, drive: row.drive, name: row.name, kind: row.kind } },
        el("td", { className: "drive-col-name" },
          row.thumbnail
            ? el("img", { className: "drive-thumb", src: row.thumbnail, alt: "", width: 24, height: 24, loading: "lazy" })
            : el("span", { className: `drive-icon drive-icon-${row.kind}`, "aria-hidden": "true" }), name, where),
        el("td", { className: "drive-col-by" }, row.modified_by),
        el("td", { className: "drive-col-date" }, el("time", { datetime: row.modified_iso }, row.modified)),
        el("td", { className: "drive-col-size" }, row.size),
        actions);
    }

    onClick(event) {
      const preview = event.target.closest("a[data-preview]");
      if (preview && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) {
        event.preventDefault();
        this.preview.open(preview);
        return;
      }
      const link = event.target.closest("a[data-api]");
      if (link && this.root.contains(link) && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) {
        event.preventDefault();
        this.load(link.dataset.api, link.hasAttribute("data-drive-more"));
        return;
      }
      if (event.target.closest("[data-drive-refresh]")) { event.preventDefault(); this.load(this.current); return; }
      if (event.target.closest("[data-drive-new-folder]")) { this.showFolderForm(true); return; }
      if (event.target.closest("[data-drive-folder-cancel]")) { this.showFolderForm(false); return; }
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      const tr = button.closest("tr");
      const actions = {
        link: () => this.copyLink(tr, button),
        "link-organization": () => this.pickScope(tr, "organization"),
        "link-anonymous": () => this.pickScope(tr, "anonymous"),
        "link-cancel": () => this.restoreActions(tr, "link"),
        delete: () => this.confirmDelete(tr),
        "delete-yes": () => this.remove(tr),
        "delete-no": () => this.restoreActions(tr),
        "folder-rename": () => this.createFolder(true),
        rename: () => this.showRename(tr),
        "rename-cancel": () => this.restoreActions(tr, "rename"),
        move: () => this.picker.open(tr),
      };
      if (actions[button.dataset.action]) actions[button.dataset.action]();
    }

    // --- Rename, Move and name conflicts ----------------------------------------------------

    // A name is taken: ask Keep both, Replace or Cancel; `again(conflict)` repeats the change.
    askConflict(message, again, cancelled) {
      const group = el("span", { role: "group", "aria-label": "What should happen?" },
        el("button", { type: "button", className: "small primary", dataset: { conflict: "rename" } }, "Keep both"), " ",
        el("button", { type: "button", className: "small", dataset: { conflict: "replace" } }, "Replace"), " ",
        el("button", { type: "button", className: "small", dataset: { conflict: "cancel" } }, "Cancel"));
      group.addEventListener("click", (event) => {
        const choice = event.target.closest("button[data-conflict]");
        if (!choice) return;
        group.querySelectorAll("button").forEach((button) => { button.disabled = true; });
        if (choice.dataset.conflict === "cancel") {
          this.status("Nothing was changed.");
          if (cancelled) cancelled();
          return;
        }
        again(choice.dataset.conflict);
      });
      this.status(`${message} Keep both, replace it, or cancel?`, "error", group);
      group.querySelector("button").focus();
    }

    showRename(tr) {
      const cell = tr.querySelector(".drive-col-actions");
      tr.savedActions = [...cell.childNodes];
      const input = el("input", { type: "text", value: tr.dataset.name, maxlength: "250", "aria-label": `New name for “${tr.dataset.name}”`, autocomplete: "off" });
      const form = el("form", { className: "drive-rename" }, input, " ",
        el("button", { type: "submit", className: "small primary" }, "Rename"), " ",
        el("button", { type: "button", className: "small", dataset: { action: "rename-cancel" } }, "Cancel"));
      form.addEventListener("submit", (event) => { event.preventDefault(); this.rename(tr, input.value, "fail"); });
      form.addEventListener("keydown", (event) => {
        if (event.key === "Escape") { event.preventDefault(); this.restoreActions(tr, "rename"); }
      });
      cell.replaceChildren(form);
      input.focus();
      const dot = tr.dataset.kind === "folder" ? -1 : input.value.lastIndexOf(".");
      input.setSelectionRange(0, dot > 0 ? dot : input.value.length);
    }

    async rename(tr, name, conflict) {
      const body = { folder: this.listing.folder, drive: tr.dataset.drive, item: tr.dataset.id, name, conflict };
      const result = await call("POST", this.root.dataset.rename, body);
      if (!result.ok && result.body.conflict) {
        this.askConflict(result.body.error, (choice) => this.rename(tr, name, choice),
          () => tr.isConnected && tr.querySelector("input") && tr.querySelector("input").focus());
        return;
      }
      if (!result.ok) { this.fail(result); return; }
      const old = tr.dataset.name;
      if (conflict === "replace") this.dropRow(result.body.row.name, result.body.row.id);
      const fresh = this.rowElement(result.body.row);
      tr.replaceWith(fresh);
      fresh.querySelector("[data-action='rename']").focus();
      this.status(`Renamed “${old}” to “${result.body.row.name}”.`, "success");
    }

    // Remove the row showing another item of this name (it was replaced).
    dropRow(name, keepId) {
      this.rows.querySelectorAll("tr").forEach((row) => {
        if (row.dataset.id !== keepId && row.dataset.name.toLowerCase() === name.toLowerCase()) row.remove();
      });
    }

    async move(tr, to, label, conflict) {
      const body = { drive: tr.dataset.drive, item: tr.dataset.id, to, conflict };
      const result = await call("POST", this.root.dataset.move, body);
      if (!result.ok && result.body.conflict) {
        this.askConflict(result.body.error, (choice) => this.move(tr, to, label, choice),
          () => this.q("[data-drive-refresh]").focus());
        return;
      }
      if (!result.ok) { this.fail(result); return; }
      const name = tr.dataset.name;
      const next = tr.nextElementSibling || tr.previousElementSibling;
      tr.remove();
      this.q("[data-drive-empty]").hidden = this.rows.children.length > 0;
      this.status(`Moved “${name}” to ${label}${result.body.row.name !== name ? ` as “${result.body.row.name}”` : ""}.`, "success");
      const focus = next && next.querySelector("a, button");
      (focus || this.q("[data-drive-refresh]")).focus();
    }

    // Search the drive (or shared folder) being browsed; Try again repeats the same search.
    search() {
      const text = this.q("[data-drive-search] input[type=search]").value.trim();
      if (!text) { this.status("Type what to search for.", "error"); return; }
      const folder = { ...this.listing.folder };
      delete folder.sort; delete folder.order;
      const params = new URLSearchParams({ ...folder, q: text });
      this.load(`${this.root.dataset.search}?${params}`);
    }

    showFolderForm(show) {
      const form = this.q("[data-drive-folder-form]");
      form.hidden = !show;
      if (show) { form.querySelector("input").value = ""; form.querySelector("input").focus(); }
    }

    async createFolder(rename) {
      const input = this.q("[data-drive-folder-form] input");
      const body = { folder: this.listing.folder, name: input.value, conflict: rename ? "rename" : "fail" };
      const result = await call("POST", this.root.dataset.folders, body);
      if (!result.ok) {
        const choice = result.body.conflict
          ? el("button", { type: "button", className: "small", dataset: { action: "folder-rename" } }, "Create with a new name")
          : null;
        this.status(result.body.error || "The folder was not created.", "error", choice);
        return;
      }
      this.showFolderForm(false);
      this.insertRow(result.body.row);
      this.q("[data-drive-empty]").hidden = true;
      this.status(`Folder “${result.body.row.name}” created.`, "success");
    }

    // --- Upload File ---------------------------------------------------------------------

    progress(name, done, total) {
      const box = this.q("[data-drive-progress]");
      box.hidden = false;
      const percent = total ? Math.min(100, Math.floor((done * 100) / total)) : 100;
      this.q("[data-drive-progress-name]").textContent = name;
      this.q("[data-drive-progress-bar]").value = percent;
      this.q("[data-drive-progress-pct]").textContent = `${percent}%`;
    }

    onFile(event) {
      const input = event.target;
      const files = [...(input.files || [])];
      input.value = "";
      this.enqueue(files);
    }

    // Files dragged from the desktop onto the dashlet join the same queue as picked ones.
    onDrag(event) {
      if (!event.dataTransfer || ![...event.dataTransfer.types].includes("Files")) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = this.listing && this.listing.writable ? "copy" : "none";
      this.root.classList.add("drive-dropping");
    }

    onDrop(event) {
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      event.preventDefault();
      this.root.classList.remove("drive-dropping");
      this.enqueue([...event.dataTransfer.files]);
    }

    // --- the upload queue: one file at a time, each with its state and a Cancel button; the
    // progress bar above shows the file being uploaded.

    enqueue(files) {
      if (!files.length) return;
      if (!this.listing || !this.listing.writable) {
        this.status("Files can be uploaded only into a folder of your own, not here.", "error");
        return;
      }
      const list = this.q("[data-drive-queue]");
      this.queue = this.queue.filter((entry) => {
        if (["waiting", "uploading", "asking"].includes(entry.state)) return true;
        entry.li.remove();
        return false;
      });
      files.forEach((file) => {
        const state = el("span", { className: "drive-queue-state" }, "Waiting");
        const cancel = el("button", { type: "button", className: "small", "aria-label": `Cancel upload of “${file.name}”` }, "Cancel");
        const entry = { file, conflict: "fail", state: "waiting", folder: this.listing.folder };
        entry.li = el("li", {}, el("span", { className: "drive-queue-name" }, file.name), " ", state, " ", cancel);
        entry.show = (text, final) => {
          entry.state = final || entry.state;
          state.textContent = text;
          if (final) cancel.remove();
        };
        cancel.addEventListener("click", () => this.cancelEntry(entry));
        this.queue.push(entry);
        list.append(entry.li);
      });
      list.hidden = false;
      this.pump();
    }

    pump() {
      if (this.upload || this.asking) return;
      const next = this.queue.find((entry) => entry.state === "waiting");
      if (next) this.uploadFile(next.file, next.conflict, next);
    }

    cancelEntry(entry) {
      if (entry.state === "uploading") { this.cancelUpload(); return; }
      if (entry.state === "asking") {  // the same as Cancel in the name-taken question
        const cancel = this.q("[data-drive-status] button[data-conflict='cancel']");
        if (cancel && !cancel.disabled) cancel.click();
        return;
      }
      if (entry.state === "waiting") entry.show("Cancelled", "cancelled");
    }

    // Upload one file; a name already taken asks Keep both / Replace / Cancel, then uploads
    // again with Graph's conflictBehavior (rename or replace); then the next file in the queue.
    async uploadFile(file, conflict, entry) {
      if (this.upload) return;
      entry.show("Uploading", "uploading");
      this.upload = { file, xhr: null, ticket: null, cancelled: false, conflict, folder: entry.folder };
      this.q("[data-drive-cancel]").hidden = false;
      this.status("");
      this.progress(file.name, 0, file.size);
      const small = file.size <= Number(this.root.dataset.simpleMax);
      const result = small ? await this.uploadSmall(file) : await this.uploadInParts(file);
      const upload = this.upload;
      this.upload = null;
      this.q("[data-drive-cancel]").hidden = true;
      if (upload.cancelled) {
        this.q("[data-drive-progress]").hidden = true;
        this.status(`Upload of “${file.name}” cancelled.`);
        entry.show("Cancelled", "cancelled");
        this.pump();
        return;
      }
      if (!result.ok) {
        this.q("[data-drive-progress]").hidden = true;
        if (result.body.conflict && conflict === "fail") {
          this.asking = true;
          entry.show("Name taken", "asking");
          this.askConflict(result.body.error, (choice) => {
            this.asking = false;
            entry.conflict = choice;
            this.uploadFile(file, choice, entry);
          }, () => {
            this.asking = false;
            entry.show("Cancelled", "cancelled");
            this.q("[data-drive-upload]").focus();
            this.pump();
          });
        } else {
          entry.show("Failed", "failed");
          this.fail(result);
          this.pump();
        }
        return;
      }
      this.progress(file.name, file.size, file.size);
      // Shown only while the folder it went to is still the one on screen.
      if (this.listing && JSON.stringify(this.listing.folder) === JSON.stringify(entry.folder)) {
        if (conflict === "replace") this.dropRow(result.body.row.name, result.body.row.id);
        this.insertRow(result.body.row);
        this.q("[data-drive-empty]").hidden = true;
      }
      this.status(`Uploaded “${result.body.row.name}”.`, "success");
      entry.show("Uploaded", "done");
      this.pump();
    }

    uploadSmall(file) {
      const params = new URLSearchParams({ ...this.upload.folder, name: file.name, conflict: this.upload.conflict });
      return send(this.upload, "PUT", `${this.root.dataset.files}?${params}`,
        { "Content-Type": "application/octet-stream" }, file,
        (loaded) => this.progress(file.name, loaded, file.size));
    }

    async uploadInParts(file) {
      const started = await call("POST", this.root.dataset.uploads,
        { folder: this.upload.folder, name: file.name, size: file.size, conflict: this.upload.conflict });
      if (!started.ok) return started;
      const upload = this.upload;
      upload.ticket = started.body.ticket;
      const size = started.body.chunk_size;
      let result = started;
      for (let start = 0; start < file.size && !upload.cancelled; start += size) {
        const end = Math.min(start + size, file.size);
        result = await send(upload, "PUT", this.root.dataset.uploads, {
          "Content-Type": "application/octet-stream",
          "Content-Range": `bytes ${start}-${end - 1}/${file.size}`,
          "X-Upload-Ticket": upload.ticket,
        }, file.slice(start, end), (loaded) => this.progress(file.name, start + loaded, file.size));
        if (!result.ok) break;
      }
      return result;
    }

    cancelUpload() {
      const upload = this.upload;
      if (!upload) return;
      upload.cancelled = true;
      if (upload.xhr) upload.xhr.abort();
      if (upload.ticket) {
        fetch(this.root.dataset.uploads, {
          method: "DELETE", credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(), "X-Upload-Ticket": upload.ticket, Accept: "application/json" },
        }).catch(() => {});
      }
    }

    // --- Copy Link and Delete ------------------------------------------------------------------

    copyLink(tr, button) {
      const scopes = [...this.linkScopes.keys()];
      if (scopes.length < 2) { this.makeLink(tr, button, scopes[0] || "organization"); return; }
      this.chooseScope(tr, scopes);
    }

    // Ask who may open the link, in the row's action cell (like Delete's confirmation).
    chooseScope(tr, scopes) {
      const cell = tr.querySelector(".drive-col-actions");
      tr.savedActions = [...cell.childNodes];
      const group = el("span", { role: "group", "aria-label": `Who can open the link to “${tr.dataset.name}”?` },
        el("span", { className: "drive-confirm" }, "Who can open the link?"), " ",
        scopes.flatMap((scope) => [el("button", { type: "button", className: "small", dataset: { action: `link-${scope}` } },
          this.linkScopes.get(scope)), " "]),
        el("button", { type: "button", className: "small", dataset: { action: "link-cancel" } }, "Cancel"));
      group.addEventListener("keydown", (event) => {
        if (event.key === "Escape") { event.preventDefault(); this.restoreActions(tr, "link"); }
      });
      cell.replaceChildren(group);
      group.querySelector("button").focus();
    }

    pickScope(tr, scope) {
      this.restoreActions(tr, "link");
      this.makeLink(tr, tr.querySelector("[data-action='link']"), scope);
    }

    async makeLink(tr, button, scope) {
      const focused = document.activeElement === button;
      button.disabled = true;
      const result = await call("POST", this.root.dataset.links, { drive: tr.dataset.drive, item: tr.dataset.id, scope });
      button.disabled = false;
      if (focused) button.focus();
      if (!result.ok) { this.fail(result); return; }
      const { url, scope_label: who } = result.body;
      const shown = el("input", { type: "text", readonly: true, value: url, className: "drive-link", "aria-label": "Link" });
      try {
        await navigator.clipboard.writeText(url);
        this.status(`Link to “${tr.dataset.name}” copied to the clipboard. ${who} can open it:`, "success", shown);
      } catch (error) {
        this.status(`Copy this link to “${tr.dataset.name}”. ${who} can open it:`, "info", shown);
        shown.select();
      }
    }

    confirmDelete(tr) {
      const cell = tr.querySelector(".drive-col-actions");
      tr.savedActions = [...cell.childNodes];
      cell.replaceChildren(
        el("span", { className: "drive-confirm" }, `Delete “${tr.dataset.name}”?`), " ",
        el("button", { type: "button", className: "small danger", dataset: { action: "delete-yes" } }, "Delete"), " ",
        el("button", { type: "button", className: "small", dataset: { action: "delete-no" } }, "Cancel"));
      cell.querySelector("[data-action='delete-no']").focus();
    }

    // Put the row's buttons back; focus the one whose action is `focusAction`, if given.
    restoreActions(tr, focusAction) {
      tr.querySelector(".drive-col-actions").replaceChildren(...(tr.savedActions || []));
      if (focusAction) tr.querySelector(`[data-action='${focusAction}']`).focus();
    }

    async remove(tr) {
      const params = new URLSearchParams({ drive: tr.dataset.drive, item: tr.dataset.id });
      const result = await call("DELETE", `${this.root.dataset.items}?${params}`);
      if (!result.ok) { this.restoreActions(tr); this.fail(result); return; }
      tr.remove();
      this.q("[data-drive-empty]").hidden = this.rows.children.length > 0;
      this.status(`Deleted “${tr.dataset.name}”.`, "success");
    }
  }

  // Move's folder browser: a modal dialog over the same drive, folders only, by keyboard (Tab
  // through the breadcrumb, the folders and Move here; Escape or Cancel closes it).
  class FolderPicker {
    constructor(panel) {
      this.panel = panel;
      this.dialog = panel.q("[data-drive-picker]");
      this.pq = (selector) => this.dialog.querySelector(selector);
      this.here = null;
      this.tr = null;
      this.pq("[data-picker-move]").addEventListener("click", () => this.choose());
      this.pq("[data-picker-cancel]").addEventListener("click", () => this.dialog.close());
      this.pq("[data-picker-more]").addEventListener("click", () => this.load(this.more, true));
      this.dialog.addEventListener("close", () => {
        const button = this.tr && this.tr.isConnected && this.tr.querySelector("[data-action='move']");
        if (button && !this.moving) button.focus();
      });
    }

    // The top of the drive being browsed: My Files, the shared folder itself, or the library.
    top() {
      return this.panel.listing.crumbs[this.panel.listing.drive_top];
    }

    open(tr) {
      this.tr = tr;
      this.moving = false;
      this.pq("[data-picker-title]").textContent = `Move “${tr.dataset.name}” to…`;
      this.dialog.showModal();
      this.load(this.top().api, false);
    }

    async load(url, append) {
      const status = this.pq("[data-picker-status]");
      status.textContent = "Loading…";
      const result = await call("GET", url);
      if (!result.ok) { status.textContent = result.body.error || "The folder could not be opened."; return; }
      status.textContent = "";
      const listing = result.body;
      const list = this.pq("[data-picker-folders]");
      if (!append) {
        this.here = listing;
        list.replaceChildren();
        this.renderCrumbs(listing);
      }
      const folders = listing.rows.filter((row) => row.folder && row.api && row.drive === this.tr.dataset.drive && row.id !== this.tr.dataset.id);
      folders.forEach((row) => {
        const button = el("button", { type: "button", className: "drive-picker-folder" },
          el("span", { className: "drive-icon drive-icon-folder", "aria-hidden": "true" }), row.name);
        button.addEventListener("click", () => this.load(row.api, false));
        list.append(el("li", {}, button));
      });
      if (!list.children.length) list.append(el("li", { className: "muted" }, "No folders here."));
      this.more = listing.more ? listing.more.api : null;
      this.pq("[data-picker-more]").hidden = !this.more;
      const same = JSON.stringify(this.withoutSort(this.here.folder)) === JSON.stringify(this.withoutSort(this.panel.listing.folder));
      const move = this.pq("[data-picker-move]");
      move.disabled = same;
      move.textContent = same ? "Already here" : "Move here";
      if (!append) (list.querySelector("button") || move).focus();
    }

    withoutSort(folder) {
      const copy = { ...folder };
      delete copy.sort; delete copy.order;
      return copy;
    }

    renderCrumbs(listing) {
      const crumbs = listing.crumbs.slice(listing.drive_top);
      this.pq("[data-picker-crumbs]").replaceChildren(...crumbs.map((crumb, index) => {
        if (index === crumbs.length - 1) return el("li", {}, el("span", { "aria-current": "location" }, crumb.label));
        const button = el("button", { type: "button", className: "link" }, crumb.label);
        button.addEventListener("click", () => this.load(crumb.api, false));
        return el("li", {}, button);
      }));
    }

    choose() {
      const crumbs = this.here.crumbs;
      const label = `“${crumbs[crumbs.length - 1].label}”`;
      this.moving = true;
      this.dialog.close();
      this.panel.move(this.tr, this.withoutSort(this.here.folder), label, "fail");
    }
  }

  // Preview: the item's large thumbnail (Graph makes one for images, PDF and Office files, at
  // most 1920 px), or a plain-text file's text up to a cap, in a modal dialog, never a whole
  // large file; Escape or Close returns to the button.
  class Preview {
    constructor(panel) {
      this.dialog = panel.q("[data-drive-preview]");
      this.pq = (selector) => this.dialog.querySelector(selector);
      this.image = this.pq("[data-preview-image]");
      this.text = this.pq("[data-preview-text]");
      this.status = this.pq("[data-preview-status]");
      this.opener = null;
      this.pq("[data-preview-close]").addEventListener("click", () => this.dialog.close());
      this.image.addEventListener("load", () => { this.status.textContent = ""; this.image.hidden = false; });
      this.image.addEventListener("error", () => {
        this.image.hidden = true;
        this.status.textContent = "No preview is available for this file. Download it to see it.";
      });
      this.dialog.addEventListener("close", () => {
        this.image.removeAttribute("src");
        this.text.textContent = "";
        if (this.opener && this.opener.isConnected) this.opener.focus();
      });
    }

    open(link) {
      const tr = link.closest("tr");
      const name = tr.dataset.name;
      this.opener = link;
      this.pq("[data-preview-title]").textContent = `Preview of “${name}”`;
      this.pq("[data-preview-download]").href = tr.querySelector("td.drive-col-name > a").href;
      this.status.textContent = "Loading preview…";
      this.image.hidden = true;
      this.text.hidden = true;
      this.dialog.showModal();
      this.pq("[data-preview-close]").focus();
      if (link.dataset.text) {
        this.showText(link.dataset.text);
      } else {
        this.image.alt = `Preview of “${name}”`;
        this.image.src = link.href;
      }
    }

    // Plain text, at most 256 KB of it, shown as text (never as HTML).
    async showText(url) {
      const result = await call("GET", url);
      if (!this.dialog.open) return;
      if (!result.ok) {
        this.status.textContent = result.body.error || "The preview could not be loaded.";
        return;
      }
      this.text.textContent = result.body.text;
      this.text.hidden = false;
      this.status.textContent = "";
    }
  }

  document.querySelectorAll("[data-drive]").forEach((root) => new DrivePanel(root));
})();
