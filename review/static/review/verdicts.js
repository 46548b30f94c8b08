/*
 * The reviewer's outbox of verdicts, an Outbox like the editor's of annotations
 * (annotations/sync.js): every change is queued in localStorage (per review assignment), sent in
 * order one at a time, and retried with backoff when the network, the server or the session
 * fails; a refusal that trying again cannot fix (400, 403, 404) is dropped and reported, and the
 * page reloads the truth.
 *
 * A PUT gives the whole verdict, so a newer PUT of the same annotation replaces anything of it
 * still waiting; a comment change waiting behind a PUT joins it.
 */

import { Outbox, csrfToken, jsonRequest } from "../annotations/sync.js";

export class VerdictQueue extends Outbox {
  /**
   * @param {object} options
   *   key (the localStorage key), urlOf(annotationId) → the verdict's URL;
   *   onSaved(op, answer) once stored; onRejected(op, error) for a refusal;
   *   onState(state, queued) with "saved" | "saving" | "failed" | "offline".
   */
  constructor(options) {
    super(options.key, "verdict", options);
  }

  /** The waiting operations of an annotation, oldest first. */
  pendingFor(annotation) {
    return this.ops.filter((op) => op.annotation === annotation);
  }

  /**
   * Queue PUT (body: the verdict), PATCH (body: {comment}) or DELETE of one annotation's
   * (Outbox.enqueue); fold() makes room for a PUT or DELETE, or joins a PATCH to what waits.
   */
  fold(op) {
    const waiting = (queued) => queued.annotation === op.annotation && !queued.sending;
    if (op.method === "PUT" || op.method === "DELETE") {
      this.ops = this.ops.filter((queued) => !waiting(queued));
      return false;
    }
    const last = this.ops.at(-1);
    if (last && waiting(last) && last.method !== "DELETE") {
      last.body = { ...last.body, ...op.body };
      return true;
    }
    return false;
  }

  send(op) {
    return jsonRequest(op.method, this.urlOf(op.annotation), op.body, csrfToken());
  }
}
