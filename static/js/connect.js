// Connect / Reauthenticate in a pop-up. The pop-up is opened synchronously in the submit
// handler (so browsers allow it), the flow is created with a CSRF-protected POST, and the
// result comes back by postMessage (exact origin), BroadcastChannel, or polling — whichever
// arrives first, since a provider's COOP may cut the pop-up off from this window.
"use strict";
(() => {
  const POLL_MS = 1000;
  const forms = document.querySelectorAll("form[data-oauth-connect]");

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

  function watch(form, flow, popup) {
    let done = false;
    let timer = null;
    let channel = null;
    const finish = () => {
      if (done) return;
      done = true;
      window.clearTimeout(timer);
      fetch(flow.status_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((r) => r.json())
        .then((body) => {
          if (body.pending) { done = false; timer = window.setTimeout(poll, POLL_MS); return; }
          window.removeEventListener("message", onMessage);
          if (channel) channel.close();
          if (body.next) window.location.assign(body.next);
          else status(form, body.message || "The connection failed.", "error");
        })
        .catch(() => status(form, "Could not read the result. Please reload the page.", "error"));
    };
    const onMessage = (event) => {
      if (event.origin !== window.location.origin) return; // exact origin only
      const data = event.data || {};
      if (data.type === "oauth-flow" && data.flow === flow.flow) finish();
    };
    window.addEventListener("message", onMessage);
    if ("BroadcastChannel" in window) {
      channel = new BroadcastChannel("oauth-flow");
      channel.onmessage = (event) => {
        const data = event.data || {};
        if (data.type === "oauth-flow" && data.flow === flow.flow) finish();
      };
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

  forms.forEach((form) => {
    const here = form.querySelector("[data-oauth-continue-here]");
    if (here) here.addEventListener("click", () => continueHere(form));
    form.addEventListener("submit", (event) => {
      if (form.dataset.submitting === "native") return;
      event.preventDefault();
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
    });
  });
})();
