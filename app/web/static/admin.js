/*
 * The administration pages (app/web/admin_pages.py).
 *
 * 1. A form's answer (a new token or password shown once, or anything else done) is the
 *    page again. Its history entry is turned into the page's own address, so reloading
 *    asks for the page rather than sending the form again: a secret shown once stays
 *    shown once, and no second token is issued by a reload.
 * 2. The opt-out page sends the chosen list as the body of PUT /admin/opt-out, streamed
 *    by the browser from the file (never a multipart form, which the server would spool
 *    to a temporary file), with the session's CSRF token in X-CSRF-Token. The answer
 *    holds counts only; the page is then shown again with the new version.
 * Plain script, no build step; the CSP allows scripts from this origin only.
 */
"use strict";

(() => {
  const marker = document.querySelector("[data-page-url]");
  if (marker && window.history.replaceState) {
    window.history.replaceState(null, "", marker.dataset.pageUrl);
  }

  const form = document.getElementById("optout-form");
  if (!form) {
    return;
  }
  const fileInput = document.getElementById("optout-file");
  const button = document.getElementById("optout-button");
  const message = document.getElementById("optout-message");

  /** Words for a refusal: the service's title and detail (never a line of the list). */
  async function refusal(response) {
    if (new URL(response.url, window.location.href).pathname === "/login") {
      return "Your session has ended. Sign in again, then load the list again.";
    }
    if (/json/.test(response.headers.get("Content-Type") || "")) {
      try {
        const problem = await response.json();
        return `${problem.title || "Refused"}: ${problem.detail || ""}`.trim();
      } catch (_) {
        // fall through
      }
    }
    return `The list was not loaded (status ${response.status}).`;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = fileInput.files && fileInput.files[0];
    if (!file) {
      message.textContent = "Choose the list's file first.";
      return;
    }
    button.disabled = true;
    message.className = "";
    message.textContent = "Loading the list…";
    try {
      const response = await fetch(form.dataset.action, {
        method: "PUT",
        headers: { "Content-Type": "text/plain", "X-CSRF-Token": form.dataset.csrfToken || "" },
        body: file,
        credentials: "same-origin",
      });
      if (response.ok && !response.redirected) {
        window.location.assign(`${form.dataset.action}?loaded=1`);
        return;
      }
      message.className = "error";
      message.textContent = await refusal(response);
    } catch (_) {
      message.className = "error";
      message.textContent = "The list could not be sent. Check the connection and try again.";
    } finally {
      button.disabled = false;
    }
  });
})();
