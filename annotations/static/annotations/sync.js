/*
 * Autosave: every edit becomes an operation in an outbox that is kept in localStorage (per
 * assignment and slide) and sent in order, one at a time. Network failures and server errors
 * are retried with backoff (and at once when the browser comes back online); a 409 asks the
 * user, through onConflict, whether to keep their version or take the server's.
 */

const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];

/**
 * The CSRF token for X-CSRFToken: the cookie's, which follows a new log-in in another tab (the
 * page's field does not), else the page's field.
 */
export function csrfToken() {
  const cookie = document.cookie.split("; ").find((part) => part.startsWith("csrftoken="));
  if (cookie) return decodeURIComponent(cookie.slice("csrftoken=".length));
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

/**
 * Send JSON and return the answer's JSON; an HttpError for a refusal. An answer without JSON (a
 * login page after the session ran out) is not an answer: a plain Error, to retry later.
 */
export async function jsonRequest(method, url, body, token = csrfToken()) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json",
      "X-CSRFToken": token,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!(response.headers.get("Content-Type") || "").includes("json")) {
    throw new Error(`Unexpected ${response.status} answer without JSON from ${url}`);
  }
  const data = await response.json();
  if (!response.ok) throw new HttpError(response.status, data);
  return data;
}

/** Whether a failed request may succeed later as it is (network, server, session, throttle). */
export function isRetryable(error) {
  if (!(error instanceof HttpError)) return true;
  // Logged out, timed out, throttled, or a CSRF token changed by logging in again elsewhere:
  // the change is fine, the moment was not.
  if ([401, 408, 429].includes(error.status)) return true;
  if (error.status === 403 && /CSRF/.test(error.message)) return true;
  return error.status >= 500;
}

export class HttpError extends Error {
  constructor(status, data) {
    super((data && data.error) || `HTTP ${status}`);
    this.status = status;
    this.data = data;
  }
}

export class Sync {
  /**
   * @param {object} options
   *   urls, assignmentId, slideId, csrfToken() → the token for X-CSRFToken;
   *   versionOf(uuid), idOf(uuid) → the server version and id the store knows;
   *   snapshot(uuid) → a serialisable local copy of the feature, kept with queued operations;
   *   onSaved(op, feature, laterOps) when the server stored an operation;
   *   onRejected(op, error) for a refusal that retrying cannot fix (400, 403, 404, 413);
   *   onConflict(op, current) → Promise of "mine" or "theirs";
   *   onState(state, queued).
   */
  constructor(options) {
    Object.assign(this, options);
    this.key = `wsi2ml-outbox:${options.assignmentId}:${options.slideId}`;
    this.ops = [];
    this.features = {};
    this.state = "saved";
    this.attempt = 0;
    this.timer = null;
    this.running = false;
    this.load();
    window.addEventListener("online", () => this.kick(true));
    window.addEventListener("offline", () => this.setState("offline"));
  }

  load() {
    try {
      const stored = JSON.parse(window.localStorage.getItem(this.key) || "null");
      if (stored && Array.isArray(stored.ops)) {
        this.ops = stored.ops.map(({ sending, ...op }) => op);
        this.features = stored.features || {};
      }
    } catch (error) {
      console.warn("Unreadable annotation outbox, ignored:", error);
    }
  }

  persist() {
    const features = {};
    for (const op of this.ops) features[op.uuid] = this.snapshot(op.uuid) || this.features[op.uuid];
    this.features = features;
    try {
      if (this.ops.length) {
        window.localStorage.setItem(this.key, JSON.stringify({ ops: this.ops, features }));
      } else {
        window.localStorage.removeItem(this.key);
      }
    } catch (error) {
      console.warn("Could not keep the annotation outbox in localStorage:", error);
    }
  }

  get queued() {
    return this.ops.length;
  }

  isPending(uuid) {
    return this.ops.some((op) => op.uuid === uuid);
  }

  /** Queue an operation, folding an update into an unsent create or update of the same shape. */
  enqueue(op) {
    const last = [...this.ops].reverse().find((queued) => queued.uuid === op.uuid);
    if (op.op === "update" && last && !last.sending && this.ops.at(-1) === last) {
      if (last.op === "create") {
        const properties = last.body.properties;
        if (op.body.geometry) last.body.geometry = op.body.geometry;
        Object.assign(properties, op.body.properties || {});
        this.persist();
        this.kick();
        return;
      }
      if (last.op === "update") {
        if (op.body.geometry) last.body.geometry = op.body.geometry;
        if (op.body.properties) {
          last.body.properties = { ...(last.body.properties || {}), ...op.body.properties };
        }
        this.persist();
        this.kick();
        return;
      }
    }
    this.ops.push({ ...op, seq: Date.now() + Math.random() });
    this.persist();
    this.kick();
  }

  setState(state) {
    this.state = state;
    this.onState(state, this.ops.length);
  }

  /** Send what is queued now (or after the current backoff, unless now is forced). */
  kick(now = false) {
    if (now && this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      this.attempt = 0;
    }
    if (this.running || this.timer) {
      this.onState(this.state, this.ops.length);
      return;
    }
    this.run();
  }

  async run() {
    this.running = true;
    try {
      while (this.ops.length) {
        if (!navigator.onLine) {
          this.setState("offline");
          return;
        }
        this.setState("saving");
        const op = this.ops[0];
        op.sending = true;
        let feature;
        try {
          feature = await this.send(op);
        } catch (error) {
          op.sending = false;
          if (!(await this.handleError(op, error))) return;
          continue;
        }
        op.sending = false;
        this.ops.shift();
        this.attempt = 0;
        if (feature && feature.id != null) {
          for (const later of this.ops) if (later.uuid === op.uuid) later.id = feature.id;
        }
        this.onSaved(
          op,
          feature,
          this.ops.filter((later) => later.uuid === op.uuid),
        );
        this.persist();
      }
      this.setState("saved");
    } finally {
      this.running = false;
    }
  }

  /** Deal with a failed send; true to go on with the queue, false to stop for now. */
  async handleError(op, error) {
    if (error instanceof HttpError && error.status === 409) {
      const current = error.data && error.data.current;
      if (!current) return this.drop(op, error);
      // Deleting what is deleted, or restoring what is live, needs no decision.
      const settled =
        (op.op === "delete" && current.properties.deleted) ||
        (op.op === "restore" && !current.properties.deleted);
      const choice = settled ? "theirs" : await this.onConflict(op, current);
      if (choice === "theirs") {
        // Taking the server's version drops every queued change of that annotation.
        this.ops = settled
          ? this.ops.filter((queued) => queued !== op)
          : this.ops.filter((queued) => queued.uuid !== op.uuid);
        const later = this.ops.filter((queued) => queued.uuid === op.uuid);
        for (const queued of later) queued.id = current.id;
        this.onSaved({ ...op, op: "take" }, current, later);
        this.persist();
      } else {
        op.id = current.id;
        if (current.properties.deleted && op.op === "update") {
          // Deleted elsewhere: restore it first; the restore's answer gives the version.
          delete op.version;
          this.ops.unshift({
            op: "restore",
            uuid: op.uuid,
            id: current.id,
            version: current.properties.version,
            seq: 0,
          });
        } else {
          op.version = current.properties.version;
        }
        this.persist();
      }
      return true;
    }
    if (!isRetryable(error)) return this.drop(op, error);
    // Network down, server error, or a login page instead of JSON: retry later.
    this.setState(navigator.onLine && !(error instanceof TypeError) ? "failed" : "offline");
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.run();
    }, delay);
    return false;
  }

  drop(op, error) {
    this.ops = this.ops.filter((queued) => queued !== op);
    this.persist();
    this.onRejected(op, error);
    return true;
  }

  urlOf(op) {
    const id = op.id ?? this.idOf(op.uuid);
    if (id == null) throw new HttpError(404, { error: "This annotation was never saved." });
    return `${this.urls.annotation}${id}`;
  }

  async send(op) {
    // A version taken from a conflict answer wins over the store's for this one send.
    const version = op.version ?? this.versionOf(op.uuid);
    delete op.version;
    switch (op.op) {
      case "create":
        return this.request("POST", this.urls.annotations, op.body);
      case "update":
        return this.request("PATCH", this.urlOf(op), { version, ...op.body });
      case "delete":
        return this.request("DELETE", `${this.urlOf(op)}?version=${version}`);
      default:
        return this.request("POST", `${this.urlOf(op)}/restore`, { version });
    }
  }

  request(method, url, body) {
    return jsonRequest(method, url, body, this.csrfToken());
  }
}
