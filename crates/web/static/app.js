// Tsunagu: progressive enhancement only. Every core flow works without this file.
"use strict";

// Passkeys (WebAuthn). The passkey blocks of the pages ([data-passkey]) stay hidden unless the
// browser can use passkeys. The server sends webauthn-rs's JSON, where binary fields are
// base64url strings; the browser's API wants ArrayBuffers, and its answer goes back as base64url.
(function passkeys() {
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  const toBuffer = (text) => {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
  };
  const toText = (buffer) => {
    if (!buffer) return null;
    let bin = "";
    new Uint8Array(buffer).forEach((b) => { bin += String.fromCharCode(b); });
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };

  // The server said no; its message is in the page's language.
  class Refused extends Error {}

  async function post(url, csrf, body) {
    const res = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Refused(data.error || "");
    return data;
  }

  async function register(form) {
    const csrf = form.dataset.csrf;
    const start = await post("/account/passkeys/register/start", csrf, { name: form.elements.name.value });
    const options = start.options.publicKey;
    options.challenge = toBuffer(options.challenge);
    options.user.id = toBuffer(options.user.id);
    (options.excludeCredentials || []).forEach((c) => { c.id = toBuffer(c.id); });
    const cred = await navigator.credentials.create({ publicKey: options });
    await post("/account/passkeys/register/finish", csrf, {
      challenge_id: start.challenge_id,
      credential: {
        id: cred.id,
        rawId: toText(cred.rawId),
        type: cred.type,
        response: {
          attestationObject: toText(cred.response.attestationObject),
          clientDataJSON: toText(cred.response.clientDataJSON),
        },
        extensions: cred.getClientExtensionResults(),
      },
    });
    location.assign("/account/security#passkeys");
  }

  async function logIn(button) {
    // The second-factor page names the person; on the login page they type their login first.
    const input = document.getElementById("login");
    const login = button.dataset.login || (input ? input.value.trim() : "");
    if (!login) {
      if (input) { input.reportValidity(); input.focus(); }
      return;
    }
    const csrf = button.dataset.csrf;
    const start = await post("/login/passkey/start", csrf, { login });
    const options = start.options.publicKey;
    options.challenge = toBuffer(options.challenge);
    (options.allowCredentials || []).forEach((c) => { c.id = toBuffer(c.id); });
    const cred = await navigator.credentials.get({ publicKey: options });
    const done = await post("/login/passkey/finish", csrf, {
      challenge_id: start.challenge_id,
      credential: {
        id: cred.id,
        rawId: toText(cred.rawId),
        type: cred.type,
        response: {
          authenticatorData: toText(cred.response.authenticatorData),
          clientDataJSON: toText(cred.response.clientDataJSON),
          signature: toText(cred.response.signature),
          userHandle: toText(cred.response.userHandle),
        },
        extensions: cred.getClientExtensionResults(),
      },
    });
    location.assign(done.redirect || "/");
  }

  // Runs one passkey step from `block`, showing a refusal in its [data-passkey-error].
  function run(block, button, task) {
    const out = block.querySelector("[data-passkey-error]");
    const show = (message) => {
      if (!out) return;
      out.textContent = message;
      out.hidden = !message;
    };
    show("");
    button.disabled = true;
    task()
      .catch((e) => show(e instanceof Refused && e.message ? e.message : block.dataset.failed || button.dataset.failed))
      .finally(() => { button.disabled = false; });
  }

  document.querySelectorAll("[data-passkey]").forEach((el) => { el.hidden = false; });
  document.querySelectorAll("[data-passkey-fallback]").forEach((el) => { el.hidden = true; });
  document.querySelectorAll("[data-passkey-login]").forEach((button) => {
    button.addEventListener("click", () => run(button.closest("[data-passkey]") || document.body, button, () => logIn(button)));
  });
  document.querySelectorAll("form[data-passkey-register]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      run(form, form.querySelector("button[type=submit]"), () => register(form));
    });
  });
})();

// Print buttons ([data-print], hidden until this runs): the browser's print dialog.
(function printButtons() {
  document.querySelectorAll("[data-print]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  });
})();

// The live timeline. On the patient page (the timeline with [data-live-url]) new entries appear
// at the top without reloading, through server-sent events, and a polite live region says so.
// On a filtered or older page the entry is not inserted (it may not belong there): the region
// offers a reload instead. Without this script the page works as ever: reload to see more.
(function liveTimeline() {
  const list = document.querySelector("[data-live-url]");
  if (!list || !window.EventSource) return;
  const status = document.createElement("p");
  status.className = "live-notice";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  list.parentNode.insertBefore(status, list);
  const partial = location.search.length > 1;
  const announce = (offerReload) => {
    status.textContent = list.dataset.liveNotice || "";
    if (offerReload) {
      const a = document.createElement("a");
      a.href = location.pathname + "#timeline";
      a.textContent = list.dataset.liveReload || "";
      status.append(" ", a);
    }
  };
  const source = new EventSource(list.dataset.liveUrl);
  source.addEventListener("entry", (event) => {
    if (partial) { announce(true); return; }
    const template = document.createElement("template");
    template.innerHTML = event.data;
    const entry = template.content.firstElementChild;
    if (!entry || !entry.id) return;
    const shown = document.getElementById(entry.id);
    if (shown) { shown.replaceWith(entry); return; } // changed (acknowledged): update in place
    const empty = document.getElementById("no-entries");
    if (empty) empty.remove();
    entry.classList.add("live-new");
    list.prepend(entry);
    announce(false);
  });
  source.addEventListener("resync", () => announce(true));
  // A lost connection is retried by the browser; an answer other than a stream (access gone,
  // logged out) ends it for good.
})();
