/*
 * The job page (jobs/job.html): asks the job API (GET /api/jobs/<id>) every second until the
 * job has ended, and redraws its state, progress bar, count, message, details and links as the
 * template draws them. Without this module the page shows the job as it was when loaded.
 *
 * Reads #job-config ({statusUrl, timeZone}). For browser tests it sets
 * document.body.dataset.jobState to the state last drawn.
 */

const POLL_MS = 1000;
const byId = (id) => document.getElementById(id);
const config = JSON.parse(byId("job-config").textContent);
const BADGES = {
  queued: "text-bg-secondary",
  running: "text-bg-primary",
  succeeded: "text-bg-success",
  failed: "text-bg-danger",
};
// "2026-12-01 10:52:07" in the server's time zone, as the template writes times.
const timeFormat = new Intl.DateTimeFormat("sv-SE", {
  timeZone: config.timeZone,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

function drawState(job) {
  const badge = byId("job-state");
  badge.className = `badge fs-6 ${BADGES[job.state] ?? "text-bg-secondary"}`;
  badge.textContent = job.state_name;
  badge.dataset.state = job.state;
  document.body.dataset.jobState = job.state;
}

function drawBar(job) {
  const progress = byId("job-progress");
  const bar = byId("job-bar");
  const known = job.percent !== null;
  bar.className = "progress-bar";
  if (job.state === "succeeded") bar.classList.add("bg-success");
  else if (job.state === "failed") bar.classList.add("bg-danger");
  else if (!known) bar.classList.add("progress-bar-striped", "progress-bar-animated");
  bar.style.width = `${known ? job.percent : 100}%`;
  bar.textContent = known ? `${job.percent} %` : "";
  if (known) progress.setAttribute("aria-valuenow", String(job.percent));
  else progress.removeAttribute("aria-valuenow");
}

function countText(job) {
  if (job.total !== null) return `${job.done} of ${job.total} done`;
  if (job.state === "queued") return "Waiting for a worker to start it.";
  if (job.state === "running") return "Counting the work…";
  return "";
}

function drawOutcome(job) {
  byId("job-count").textContent = countText(job);
  byId("job-message").textContent = job.message;
  byId("job-details").replaceChildren(
    ...job.details.map((line) => {
      const item = document.createElement("li");
      item.textContent = line;
      return item;
    }),
  );
  byId("job-links").replaceChildren(
    ...job.links.map(({ text, url }) => {
      const link = document.createElement("a");
      link.className = "btn btn-outline-secondary btn-sm me-2";
      link.href = url;
      link.textContent = text;
      return link;
    }),
  );
  byId("job-started").textContent = job.started ? timeFormat.format(new Date(job.started)) : "—";
  byId("job-finished").textContent = job.finished
    ? timeFormat.format(new Date(job.finished))
    : "—";
}

function draw(job) {
  drawState(job);
  drawBar(job);
  drawOutcome(job);
}

async function poll() {
  let response;
  try {
    response = await fetch(config.statusUrl, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
  } catch {
    byId("job-count").textContent = "The server cannot be reached; trying again…";
    window.setTimeout(poll, POLL_MS);
    return;
  }
  if (response.status === 404 || response.status === 401) {
    byId("job-count").textContent = "This job can no longer be shown: reload the page.";
    return;
  }
  if (!response.ok) {
    window.setTimeout(poll, POLL_MS);
    return;
  }
  const job = await response.json();
  draw(job);
  if (!job.final) window.setTimeout(poll, POLL_MS);
}

const initial = byId("job-state").dataset.state;
document.body.dataset.jobState = initial;
if (initial !== "succeeded" && initial !== "failed") window.setTimeout(poll, POLL_MS);
