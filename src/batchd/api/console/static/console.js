// batchd console: live fragments, confirmations and the JSON editor's check. No framework.
"use strict";

// An element with data-poll="URL" is refreshed from URL every data-interval ms, until the
// fragment carries [data-final], the page is left, or the server answers other than 200.
function poll(el) {
  const url = el.dataset.poll;
  const every = Number(el.dataset.interval || 3000);
  let last = null;
  async function tick() {
    if (el.querySelector("[data-final]")) return;
    if (document.hidden) { setTimeout(tick, every); return; }
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", headers: { "X-Fragment": "1" } });
    } catch (_) { setTimeout(tick, every * 2); return; }
    if (response.status === 401) { stop(el, "Signed out: reload the page to sign in again."); return; }
    if (response.status === 404) { stop(el, el.dataset.gone || "This no longer exists."); return; }
    if (!response.ok) { setTimeout(tick, every * 2); return; }
    const text = await response.text();
    if (text !== last) { last = text; replace(el, text); }
    setTimeout(tick, every);
  }
  setTimeout(tick, every);
}

// Swap a fragment in, keeping open <details> open and the focus where it was.
function replace(el, html) {
  const open = [...el.querySelectorAll("details[open][id]")].map((d) => d.id);
  const focused = document.activeElement && el.contains(document.activeElement) ? document.activeElement.id : "";
  el.innerHTML = html;
  open.forEach((id) => { const d = document.getElementById(id); if (d) d.open = true; });
  if (focused) { const f = document.getElementById(focused); if (f) f.focus(); }
}

function stop(el, message) {
  const note = document.createElement("div");
  note.className = "note note-error";
  note.setAttribute("role", "status");
  note.textContent = message;
  el.prepend(note);
}

// Forms with data-confirm ask first (terminate, delete, redrive…).
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// The job editor: the text must be a JSON object with Job.Tasks before it is sent; the server
// then checks it with the Batch API's own rules.
function checkJson(area) {
  const status = document.getElementById("json-status");
  const button = area.form.querySelector("button[type=submit]");
  function problem() {
    let data;
    try { data = JSON.parse(area.value); } catch (error) { return "Not valid JSON: " + error.message; }
    if (!data || typeof data !== "object" || Array.isArray(data)) return "The request must be a JSON object.";
    if (!data.Placement || typeof data.Placement.Zone !== "string") return "Placement.Zone is missing.";
    if (!data.Job || !Array.isArray(data.Job.Tasks) || data.Job.Tasks.length === 0) return "Job.Tasks must list at least one task.";
    return "";
  }
  function update() {
    const text = problem();
    status.textContent = text || "Valid JSON. The server checks the rest when you submit.";
    status.classList.toggle("bad", Boolean(text));
    area.setAttribute("aria-invalid", text ? "true" : "false");
    button.disabled = Boolean(text);
  }
  area.addEventListener("input", update);
  area.form.addEventListener("submit", (event) => { if (problem()) { event.preventDefault(); update(); } });
  update();
}

document.querySelectorAll("[data-poll]").forEach(poll);
document.querySelectorAll("[data-json-editor]").forEach(checkJson);
