/*
 * The reviewer's outbox of verdicts, like the editor's of annotations (annotations/sync.js): every
 * change is queued in localStorage (per review assignment), sent in order one at a time, and
 * retried with backoff when the network, the server or the session fails; a refusal that trying
 * again cannot fix (400, 403, 404) is dropped and reported, and the page reloads the truth.
 *
 * A PUT gives the whole verdict, so a newer PUT of the same annotation replaces anything of it
 * still waiting; a comment change waiting behind a PUT joins it.
 */

import { csrfToken, isRetryable, jsonRequest } from "../annotations/sync.js";

const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];

export class VerdictQueue {
  /**
   * @param {object} options
   *   key (the localStorage key), urlOf(annotationId) → the verdict's URL;
   *   onSaved(op, answer) once stored; onRejected(op, error) for a refusal;
   *   onState(state, queued) with "saved" | "saving" | "failed" | "offline".
   */
  constructor(options) {
    Object.assign(this, options);
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
      if (Array.isArray(stored)) this.ops = stored.map(({ sending, ...op }) => op);
    } catch (error) {
      console.warn("Unreadable verdict outbox, ignored:", error);
    }
  }

  persist() {
    try {
      if (this.ops.length) window.localStorage.setItem(this.key, JSON.stringify(this.ops));
      else window.localStorage.removeItem(this.key);
    } catch (error) {
      console.warn("Could not keep the verdict outbox in localStorage:", error);
    }
  }

  get queued() {
    return this.ops.length;
  }

  /** The waiting operations of an annotation, oldest first. */
  pendingFor(annotation) {
    return this.ops.filter((op) => op.annotation === annotation);
  }

  /** Queue PUT (body: the verdict), PATCH (body: {comment}) or DELETE of one annotation's. */
  enqueue(op) {
    const waiting = (queued) => queued.annotation === op.annotation && !queued.sending;
    if (op.method === "PUT" || op.method === "DELETE") {
      this.ops = this.ops.filter((queued) => !waiting(queued));
    } else {
      const last = this.ops.at(-1);
      if (last && waiting(last) && last.method !== "DELETE") {
        last.body = { ...last.body, ...op.body };
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
          answer = await jsonRequest(op.method, this.urlOf(op.annotation), op.body, csrfToken());
        } catch (error) {
          op.sending = false;
          if (isRetryable(error)) {
            this.retryLater(error);
            return;
          }
          this.ops = this.ops.filter((queued) => queued !== op);
          this.persist();
          this.onRejected(op, error);
          continue;
        }
        this.ops.shift();
        this.attempt = 0;
        this.persist();
        this.onSaved(op, answer);
      }
      this.setState("saved");
    } finally {
      this.running = false;
    }
  }

  retryLater(error) {
    this.setState(navigator.onLine && !(error instanceof TypeError) ? "failed" : "offline");
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.run();
    }, delay);
  }
}
