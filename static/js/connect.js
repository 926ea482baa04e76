// Connect / Reauthenticate in a pop-up. The pop-up is opened synchronously in the submit
// handler (so browsers allow it), the flow is created with a CSRF-protected POST, and the
// result comes back by postMessage (exact origin), BroadcastChannel, or polling — whichever
// arrives first, since a provider's COOP may cut the pop-up off from this window.
"use strict";
(() => {
  const POLL_MS = 1000;

  function status(form, text, kind) {
    const box = form.querySelector("[data-oauth-status]") || document.querySelector("[data-oauth-status]");
    if (!box) return;
    box.hidden = !text;
    box.className = `flash flash-${kind || "info"}`;
    box.textContent = text || "";
  }

  function centeredFeatures() {
    const w = 600, h = 640;
    const left = Math.max(0, (window.screenX || 0) + (window.outerWidth - w) / 2);
    const top = Math.max(0, (window.screenY || 0) + (window.outerHeight - h) / 2);
    return `popup=yes,width=${w},height=${h},left=${Math.round(left)},top=${Math.round(top)}`;
  }

  function showBlocked(form) {
    const blocked = form.querySelector("[data-oauth-blocked]");
    if (blocked) blocked.hidden = false;
    status(form, "");
  }

  function continueHere(form) {
    form.querySelector("input[name=mode]").value = "redirect";
    form.dataset.submitting = "native";
    form.submit();
  }

  // The page a finished flow leads to, shown in place of this one: what a navigation to `url`
  // would show, for one request instead of a page load. It navigates instead when the answer
  // is not that page, or its content has a script, or it needs a script or stylesheet this page
  // has not loaded.
  function showResult(url) {
    const assets = (doc) => Array.from(doc.head.querySelectorAll("script, link[rel=stylesheet]"),
      (el) => el.getAttribute("src") || el.getAttribute("href"));
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then((r) => (r.ok && !r.redirected ? r.text() : Promise.reject(new Error("navigate"))))
      .then((html) => {
        const page = new DOMParser().parseFromString(html, "text/html");
        const main = page.querySelector("main");
        const loaded = new Set(assets(document));
        const ready = main && !main.querySelector("script") && assets(page).every((a) => loaded.has(a));
        if (!ready) throw new Error("navigate");
        document.querySelector("main").replaceWith(document.adoptNode(main));
        document.title = page.title;
        window.history.replaceState(null, "", url);
        main.tabIndex = -1; // focus moves to the new content, as after a page load
        main.focus();
      })
      .catch(() => window.location.assign(url));
  }

  function watch(form, flow, popup) {
    let done = false;
    let timer = null;
    let channel = null;
    const stop = () => {
      done = true;
      window.clearTimeout(timer);
      window.removeEventListener("message", onMessage);
      if (channel) channel.close();
    };
    const lead = (body) => {
      stop();
      if (body.status === "confirm") window.location.assign(body.next);
      else showResult(body.next);
    };
    // Read the outcome from the server; still pending means keep polling.
    const finish = () => {
      if (done) return;
      done = true;
      window.clearTimeout(timer);
      fetch(flow.status_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((r) => r.json())
        .then((body) => {
          if (body.pending) { done = false; timer = window.setTimeout(poll, POLL_MS); return; }
          if (body.next) lead(body);
          else { stop(); status(form, body.message || "The connection failed.", "error"); }
        })
        .catch(() => status(form, "Could not read the result. Please reload the page.", "error"));
    };
    // The bridge says the flow ended: done or error go straight to the result page, which reads
    // the outcome from the flow itself; anything else (confirm) asks the server where to go.
    const heard = (data) => {
      if (done || data.type !== "oauth-flow" || data.flow !== flow.flow) return;
      if (data.status === "done" || data.status === "error") lead({ status: data.status, next: flow.result_url });
      else finish();
    };
    const onMessage = (event) => {
      if (event.origin !== window.location.origin) return; // exact origin only
      heard(event.data || {});
    };
    window.addEventListener("message", onMessage);
    if ("BroadcastChannel" in window) {
      channel = new BroadcastChannel("oauth-flow");
      channel.onmessage = (event) => heard(event.data || {});
    }
    const started = Date.now();
    const poll = () => {
      if (done) return;
      fetch(flow.status_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((r) => (r.ok ? r.json() : { pending: false }))
        .then((body) => {
          if (!body.pending) { finish(); return; }
          if (popup.closed && Date.now() - started > 3000) {
            status(form, "Waiting for Microsoft… If you closed the sign-in window, click the button again.");
          }
          timer = window.setTimeout(poll, POLL_MS);
        })
        .catch(() => { timer = window.setTimeout(poll, POLL_MS * 3); });
    };
    timer = window.setTimeout(poll, POLL_MS);
  }

  function start(form) {
    const popup = window.open("about:blank", `oauth-${Date.now()}`, centeredFeatures());
    if (!popup) { showBlocked(form); return; }
    form.querySelector("input[name=mode]").value = "popup";
    status(form, "Waiting for you to sign in with Microsoft in the pop-up window…");
    fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
      .then(({ ok, body }) => {
        if (!ok) { popup.close(); status(form, body.error || "Could not start the connection.", "error"); return; }
        if (body.notice) status(form, body.notice);
        popup.location.href = body.go_url;
        watch(form, body, popup);
      })
      .catch(() => { popup.close(); status(form, "Could not reach the CRM. Please try again.", "error"); });
  }

  // Delegated, so that forms in a result shown in place (showResult) work as well.
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-oauth-connect]");
    if (!form || form.dataset.submitting === "native") return;
    event.preventDefault();
    start(form);
  });
  document.addEventListener("click", (event) => {
    const here = event.target.closest("[data-oauth-continue-here]");
    const form = here && here.closest("form[data-oauth-connect]");
    if (form) continueHere(form);
  });
})();
