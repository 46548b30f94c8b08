/*
 * The work bar of a work page (annotations/work.html and the pages that extend it): the time
 * spent on the slide, and the "Done" dialog.
 */

import { csrfToken } from "./sync.js";

// Report time spent on the slide: a heartbeat every interval while the page is visible. The
// server counts the time between heartbeats by its own clock, at most one interval each (which
// the page gives, from tasks.services.HEARTBEAT_SECONDS); the seconds sent, how long the page
// was visible, can only lower that.

function beat(bar, seconds) {
  const body = new URLSearchParams({ seconds: String(Math.round(seconds)) });
  return fetch(bar.dataset.heartbeatUrl, {
    method: "POST",
    body,
    headers: { "X-CSRFToken": csrfToken() },
    credentials: "same-origin",
    keepalive: true,
  }).catch(() => {
    // Time tracking is best effort: a lost heartbeat must never disturb the annotator.
  });
}

/** Send heartbeats while the slide is open in a visible page (#work-bar says where). */
export function startHeartbeat(bar = document.getElementById("work-bar")) {
  if (!bar || bar.dataset.open !== "1") return;
  let visibleSince = document.visibilityState === "visible" ? Date.now() : null;

  const flush = () => {
    if (visibleSince !== null) {
      const seconds = (Date.now() - visibleSince) / 1000;
      visibleSince = document.visibilityState === "visible" ? Date.now() : null;
      if (seconds >= 1) beat(bar, seconds);
    }
  };

  setInterval(flush, Number(bar.dataset.heartbeatSeconds) * 1000);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") {
      flush();
      visibleSince = null;
    } else {
      visibleSince = Date.now();
    }
  });
  window.addEventListener("pagehide", flush);
}

// "Done" asks once: the dialog (#done-modal, opened by Bootstrap) shows how many annotations the
// person has on this slide, per label, from the annotations API the editor uses, and holds back
// the confirmation while the editor still has a change to save (a done slide refuses writes).

function countRow(label) {
  const row = document.createElement("tr");
  const name = document.createElement("td");
  const swatch = document.createElement("span");
  swatch.className = "label-swatch";
  swatch.style.backgroundColor = label.colour;
  name.append(swatch, label.name);
  const count = document.createElement("td");
  count.className = "text-end";
  count.textContent = label.count.toLocaleString();
  row.append(name, count);
  return row;
}

function showCounts(stats) {
  const summary = document.getElementById("done-summary");
  const table = document.getElementById("done-counts");
  const body = table.querySelector("tbody");
  body.replaceChildren(...stats.labels.map(countRow));
  table.hidden = stats.total === 0;
  summary.classList.toggle("text-warning-emphasis", stats.total === 0);
  summary.textContent =
    stats.total === 0
      ? "You have drawn no annotations on this slide."
      : `You have ${stats.total} annotation${stats.total === 1 ? "" : "s"} on this slide:`;
}

async function loadCounts(config) {
  const summary = document.getElementById("done-summary");
  summary.textContent = "Counting your annotations on this slide…";
  document.getElementById("done-counts").hidden = true;
  try {
    const query = new URLSearchParams({ assignment: String(config.assignmentId) });
    const response = await fetch(`${config.urls.stats}?${query}`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    showCounts(await response.json());
  } catch {
    summary.textContent = "Your annotations could not be counted just now.";
  }
}

// The editor (annotations/panel.js) keeps its save state in body[data-save-state]; no editor
// (an unreadable slide) means nothing is waiting to be saved.
function holdWhileUnsaved() {
  const state = document.body.dataset.saveState;
  const unsaved = state !== undefined && state !== "saved";
  document.getElementById("done-unsaved").hidden = !unsaved;
  document.getElementById("done-confirm").disabled = unsaved;
}

/** Wire the "Done" dialog, when the page has one; ``config`` is #editor-config, or null. */
export function setUpDoneDialog(config) {
  const doneModal = document.getElementById("done-modal");
  if (!doneModal) return;
  const watcher = new MutationObserver(holdWhileUnsaved);
  doneModal.addEventListener("show.bs.modal", () => {
    if (config) loadCounts(config);
    holdWhileUnsaved();
    watcher.observe(document.body, { attributes: true, attributeFilter: ["data-save-state"] });
  });
  doneModal.addEventListener("shown.bs.modal", () => {
    document.getElementById("done-confirm").focus();
  });
  doneModal.addEventListener("hidden.bs.modal", () => watcher.disconnect());
}
