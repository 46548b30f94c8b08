// Report time spent on the slide: a heartbeat every interval while the page is visible. The
// server counts the time between heartbeats by its own clock, at most one interval each (which
// the page gives, from tasks.services.HEARTBEAT_SECONDS); the seconds sent, how long the page
// was visible, can only lower that.

const bar = document.getElementById("work-bar");

function csrfToken() {
  const field = bar.querySelector("input[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

function beat(seconds) {
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

if (bar && bar.dataset.open === "1") {
  let visibleSince = document.visibilityState === "visible" ? Date.now() : null;

  const flush = () => {
    if (visibleSince !== null) {
      const seconds = (Date.now() - visibleSince) / 1000;
      visibleSince = document.visibilityState === "visible" ? Date.now() : null;
      if (seconds >= 1) beat(seconds);
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
