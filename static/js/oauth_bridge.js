// The pop-up's last page: tell the opener only "done"/"error"/"confirm" and the flow id, to the
// exact origin, by postMessage and BroadcastChannel; then close. Never a token.
"use strict";
(() => {
  const result = document.getElementById("oauth-result");
  if (!result) return;
  const message = { type: "oauth-flow", status: result.dataset.status, flow: result.dataset.flow };
  if (window.opener && !window.opener.closed) {
    try { window.opener.postMessage(message, result.dataset.origin); } catch (e) { /* severed */ }
  }
  if ("BroadcastChannel" in window) {
    const channel = new BroadcastChannel("oauth-flow");
    channel.postMessage(message);
    channel.close();
  }
  if (result.dataset.flow) {
    window.setTimeout(() => window.close(), 300);
  }
})();
