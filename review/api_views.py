"""The review API: verdicts on annotations under review, a review slide's state, sending a slide
back, and the feedback an annotator reads. JSON in and out on wsi2ml.api's plumbing; routes in
review.api_urls, answers shaped by review.selectors, rules in review.services.

An id the person may not see is answered as one that does not exist (404); a review they see but
may not change (a manager's, a slide marked reviewed, a completed review) is refused with 403.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse

from review import selectors, services
from review.permissions import (
    get_feedback_assignment_for_user,
    get_review_assignment_for_user,
    get_review_item_for_user,
    get_reviewed_annotation,
    get_reviewed_assignment,
)
from slides.permissions import get_slide_for_user
from tasks.models import Label
from wsi2ml.api import ApiError, api, int_param, json_body, json_object, lookup, parse_id

VERDICT_KEYS = ("verdict", "label", "geometry", "comment")


def _verdict(verdict) -> dict:
    body = selectors.verdict_json(verdict)
    if getattr(verdict, "repaired", ""):
        body["repaired"] = verdict.repaired
    return body


def _body(request: HttpRequest, allowed: tuple[str, ...], *, required: bool = True) -> dict:
    """The body's JSON object, refused if it holds a key not ``allowed``."""
    body = json_object(json_body(request, required=required), "The body")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        accepted = f"send only {', '.join(allowed)}" if allowed else "send {} or nothing"
        raise ApiError(f"Unknown key {unknown[0]!r}; {accepted}.", field=unknown[0])
    return body


@api("GET")
def items(request: HttpRequest, review_assignment_id: int, slide_id: int) -> HttpResponse:
    """The annotations under review on the slide, with their verdicts and the slide's state."""
    item = get_review_item_for_user(request.user, review_assignment_id, slide_id)
    return JsonResponse(selectors.review_items(item=item))


@api("GET", "PUT", "PATCH", "DELETE")
def verdict(request: HttpRequest, review_assignment_id: int, annotation_id: int) -> HttpResponse:
    """GET the current verdict; PUT a verdict in its place (``repaired`` says what was done to
    a corrected geometry); PATCH its comment; DELETE (withdraw) it."""
    review_assignment = get_review_assignment_for_user(request.user, review_assignment_id)
    annotation = get_reviewed_annotation(request.user, review_assignment, annotation_id)
    where = {"review_assignment": review_assignment, "annotation": annotation}
    if request.method == "PUT":
        return _put(request, where)
    if request.method == "PATCH":
        body = _body(request, ("comment",))
        if "comment" not in body:
            raise ApiError("Send the comment to change.", field="comment")
        changed = services.verdict_comment(**where, reviewer=request.user, comment=body["comment"])
        return JsonResponse(_verdict(changed))
    if request.method == "DELETE":
        services.verdict_withdraw(**where, reviewer=request.user)
        return JsonResponse({"verdict": None})
    current = selectors.current_verdict(**where)
    return JsonResponse({"verdict": current and selectors.verdict_json(current)})


def _put(request: HttpRequest, where: dict) -> HttpResponse:
    body = _body(request, VERDICT_KEYS)
    label = body.get("label")
    if label is not None:
        labels = Label.objects.filter(project_id=where["review_assignment"].task.project_id)
        label = lookup(labels, label, "label")
    given = services.verdict_set(
        **where,
        reviewer=request.user,
        kind=body.get("verdict"),
        label=label,
        geometry=body.get("geometry"),
        comment=body.get("comment", ""),
    )
    return JsonResponse(_verdict(given))


@api("GET")
def verdict_history(
    request: HttpRequest, review_assignment_id: int, annotation_id: int
) -> HttpResponse:
    """Every verdict this review assignment gave the annotation, oldest first."""
    review_assignment = get_review_assignment_for_user(request.user, review_assignment_id)
    annotation = get_reviewed_annotation(request.user, review_assignment, annotation_id)
    history = selectors.verdict_history(annotation=annotation, review_assignment=review_assignment)
    return JsonResponse(history)


@api("POST")
def slide_reviewed(request: HttpRequest, review_assignment_id: int, slide_id: int) -> HttpResponse:
    """Mark the review slide reviewed."""
    item = get_review_item_for_user(request.user, review_assignment_id, slide_id)
    _body(request, (), required=False)
    done = services.slide_mark_reviewed(item=item, actor=request.user)
    return JsonResponse({"state": done.state})


@api("POST")
def slide_reopen(request: HttpRequest, review_assignment_id: int, slide_id: int) -> HttpResponse:
    """Take a slide marked reviewed back into review."""
    item = get_review_item_for_user(request.user, review_assignment_id, slide_id)
    _body(request, (), required=False)
    reopened = services.slide_reopen_review(item=item, actor=request.user)
    return JsonResponse({"state": reopened.state})


@api("POST")
def send_back(request: HttpRequest, review_assignment_id: int, slide_id: int) -> HttpResponse:
    """Send the slide back to one annotator under review, with a note."""
    item = get_review_item_for_user(request.user, review_assignment_id, slide_id)
    body = _body(request, ("assignment", "note"))
    assignment = get_reviewed_assignment(item, parse_id(body.get("assignment"), "assignment"))
    sent = services.slide_send_back(
        item=item, assignment=assignment, reviewer=request.user, note=body.get("note")
    )
    return JsonResponse({"sentBack": selectors.sent_back_json(sent)}, status=201)


@api("GET")
def feedback(request: HttpRequest, slide_id: int) -> HttpResponse:
    """What reviewers said about one assignment's work on the slide (``?assignment=``)."""
    slide = get_slide_for_user(request.user, slide_id)
    if not request.GET.get("assignment"):
        raise ApiError("Say whose feedback: ?assignment=<id>.", field="assignment")
    assignment_id = int_param(request.GET["assignment"], "assignment")
    assignment = get_feedback_assignment_for_user(request.user, assignment_id)
    return JsonResponse(selectors.feedback_for(assignment=assignment, slide=slide))
