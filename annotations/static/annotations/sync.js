/*
 * Autosave: every edit becomes an operation in an outbox that is kept in localStorage (per
 * assignment and slide) and sent in order, one at a time. Network failures and server errors
 * are retried with backoff (and at once when the browser comes back online); a 409 asks the
 * user, through onConflict, whether to keep their version or take the server's.
 *
 * Outbox is the queue itself (persistence, sending, backoff, dropping refusals); Sync is the
 * editor's, and review/verdicts.js's VerdictQueue the reviewer's.
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

/**
 * An outbox kept in localStorage under ``key``: operations sent in order, one at a time, with
 * retries after backoff for failures that may pass (and at once when the browser comes back
 * online), and refusals that cannot pass dropped and reported. A subclass says how an operation
 * joins the queue (fold), how it is sent (send), what a stored one does (sent), and may keep more
 * than the operations (pack, unpack) or answer some refusals itself (handleError).
 */
export class Outbox {
  /**
   * @param {string} key the localStorage key
   * @param {string} what what it holds, for warnings ("annotation", "verdict")
   * @param {object} options the subclass's, kept on the outbox; every outbox has
   *   onSaved(op, answer, ...) once stored, onRejected(op, error) for a refusal that retrying
   *   cannot fix, onState(state, queued) with "saved" | "saving" | "failed" | "offline".
   */
  constructor(key, what, options) {
    Object.assign(this, options);
    this.key = key;
    this.what = what;
    this.ops = [];
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
      if (stored) this.unpack(stored);
    } catch (error) {
      console.warn(`Unreadable ${this.what} outbox, ignored:`, error);
    }
  }

  /** Take the queue from what localStorage held; an operation being sent then is unsent now. */
  unpack(stored) {
    if (Array.isArray(stored)) this.ops = unsent(stored);
  }

  /** What localStorage keeps while anything is queued. */
  pack() {
    return this.ops;
  }

  persist() {
    const packed = this.pack();
    try {
      if (this.ops.length) {
        window.localStorage.setItem(this.key, JSON.stringify(packed));
      } else {
        window.localStorage.removeItem(this.key);
      }
    } catch (error) {
      console.warn(`Could not keep the ${this.what} outbox in localStorage:`, error);
    }
  }

  get queued() {
    return this.ops.length;
  }

  /** Queue an operation unless fold() merged it into what waits, keep the queue and send it. */
  enqueue(op) {
    if (!this.fold(op)) this.ops.push({ ...op, seq: Date.now() + Math.random() });
    this.persist();
    this.kick();
  }

  /**
   * Merge op into an unsent queued operation (true: nothing left to add) or make room for it
   * (false: it is added at the end).
   */
  fold(op) {
    return false;
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
        let answer;
        try {
          answer = await this.send(op);
        } catch (error) {
          op.sending = false;
          if (!(await this.handleError(op, error))) return;
          continue;
        }
        op.sending = false;
        this.ops.shift();
        this.attempt = 0;
        this.sent(op, answer);
        this.persist();
      }
      this.setState("saved");
    } finally {
      this.running = false;
    }
  }

  /** Send one operation; its answer, or throw (an HttpError for a refusal). */
  send(op) {
    throw new Error(`${this.constructor.name} does not say how to send a ${this.what} change.`);
  }

  /** The server stored op (already off the queue), answering answer. */
  sent(op, answer) {
    this.onSaved(op, answer);
  }

  /** Deal with a failed send; true to go on with the queue, false to stop for now. */
  async handleError(op, error) {
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
}

/** Operations as stored, none marked as being sent. */
function unsent(ops) {
  return ops.map(({ sending, ...op }) => op);
}

export class Sync extends Outbox {
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
    super(`wsi2ml-outbox:${options.assignmentId}:${options.slideId}`, "annotation", options);
    // load() (in super) may have set them from localStorage.
    this.features ??= {};
  }

  unpack(stored) {
    if (Array.isArray(stored.ops)) {
      this.ops = unsent(stored.ops);
      this.features = stored.features || {};
    }
  }

  pack() {
    const features = {};
    for (const op of this.ops) features[op.uuid] = this.snapshot(op.uuid) || this.features[op.uuid];
    this.features = features;
    return { ops: this.ops, features };
  }

  isPending(uuid) {
    return this.ops.some((op) => op.uuid === uuid);
  }

  /** Fold an update into an unsent create or update of the same shape at the queue's end. */
  fold(op) {
    const last = [...this.ops].reverse().find((queued) => queued.uuid === op.uuid);
    if (op.op !== "update" || !last || last.sending || this.ops.at(-1) !== last) return false;
    if (last.op === "create") {
      const properties = last.body.properties;
      if (op.body.geometry) last.body.geometry = op.body.geometry;
      Object.assign(properties, op.body.properties || {});
      return true;
    }
    if (last.op === "update") {
      if (op.body.geometry) last.body.geometry = op.body.geometry;
      if (op.body.properties) {
        last.body.properties = { ...(last.body.properties || {}), ...op.body.properties };
      }
      return true;
    }
    return false;
  }

  sent(op, feature) {
    if (feature && feature.id != null) {
      for (const later of this.ops) if (later.uuid === op.uuid) later.id = feature.id;
    }
    this.onSaved(
      op,
      feature,
      this.ops.filter((later) => later.uuid === op.uuid),
    );
  }

  /** A 409 asks onConflict (unless the server already is as wanted); the rest as any outbox. */
  async handleError(op, error) {
    if (!(error instanceof HttpError && error.status === 409)) return super.handleError(op, error);
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
