/*
 * The annotator's work page (annotations/work.html): the slide, the editor on their own layer
 * with the other layers they see, the work bar, and, when reviewers have spoken, their feedback
 * (#feedback-config).
 */

import { Feedback } from "./feedback.js";
import { pageJson } from "./layers.js";
import { startWorkPage } from "./workpage.js";

const page = startWorkPage();
const feedback = pageJson("feedback-config");
if (page && feedback) {
  new Feedback({ config: feedback, editor: page.editor, layerPanel: page.layerPanel });
}
