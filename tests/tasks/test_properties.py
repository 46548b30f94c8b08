"""Property tests of the pages and forms that take free text or ids: whatever is sent, no server
error, and a refused request changes nothing; and of the delegation plan itself."""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from hypothesis import example, given
from hypothesis import strategies as st

from tasks import delegation, roles, services
from tasks.models import Assignment, AssignmentSlide, DelegationEvent, Task
from tests import factories
from tests import strategies as hostile

pytestmark = pytest.mark.django_db

# 403: refused (log-in throttling answers so too), 404: nothing there, 429: throttled.
ANSWERS = {200, 302, 400, 403, 404, 405, 429}


def state() -> tuple:
    """What these forms could write: tasks, assignments, delegation events, time spent."""
    spent = AssignmentSlide.objects.order_by("pk").values_list("pk", "state", "time_spent")
    counts = (Task.objects.count(), Assignment.objects.count(), DelegationEvent.objects.count())
    return counts, list(spent)


def assert_answer(response, before, *, wrote=False) -> None:
    """No server error; unless ``wrote`` (an accepted write), nothing changed."""
    assert response.status_code in ANSWERS, (response.status_code, response.content[:500])
    if not wrote:
        assert state() == before


@pytest.fixture
def assignment(project, slides, annotator, admin_user):
    annotator.groups.add(factories.role_group("Annotator"))
    task = Task.objects.create(project=project, name="Round 1", instructions="Outline tumours.")
    return services.assignment_create(
        task=task, assignee=annotator, slides=slides[:3], actor=admin_user
    )


@pytest.fixture
def annotator_client(assignment):
    client = Client()
    client.force_login(assignment.assignee)
    return client


@pytest.fixture
def admin_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


@hostile.PROPERTIES
@given(query=hostile.query_strings(["search", "vendor", "status", "page"]))
@example(query="search=%00")
@example(query="page=%C2%B2&vendor=%ED%A0%80")
def test_the_slide_list_answers_any_query_string(annotator_client, query):
    before = state()

    assert_answer(annotator_client.get(f"{reverse('slides:list')}?{query}"), before)


@hostile.PROPERTIES
@given(query=hostile.query_strings(["search", "show", "page"]))
@example(query="search=%00")  # was a 500
@example(query="search=%ED%A0%80&page=%C2%B2")
def test_my_slides_answers_any_query_string(annotator_client, query):
    before = state()

    assert_answer(annotator_client.get(f"{reverse('tasks:my_slides')}?{query}"), before)


@hostile.PROPERTIES
@given(data=hostile.form_data(["seconds"]), which=st.sampled_from([0, 1, 2]))
@example(data={"seconds": "²"}, which=0)
@example(data={"seconds": "9" * 30}, which=0)
@example(data={"seconds": "\x00"}, which=0)
def test_the_heartbeat_answers_any_form(annotator_client, assignment, data, which):
    item = assignment.assignment_slides.order_by("pk")[which]
    url = reverse("tasks:heartbeat", args=[assignment.pk, item.slide_id])
    before = state()

    response = annotator_client.post(url, data)

    assert_answer(response, before, wrote=response.status_code == 200)
    assert response["Content-Type"] in ("application/json", "text/plain; charset=utf-8")


DELEGATION_FIELDS = [
    "project",
    "task_name",
    "instructions",
    "slides",
    "annotators",
    "overlap",
    "case_pattern",
    "confirm",
]


@hostile.PROPERTIES
@given(query=hostile.query_strings(["slides", *DELEGATION_FIELDS]))
@example(query="slides=%C2%B2")  # was a 500
@example(query="slides=1,%C2%B2,99999999999999999999,-1,%00")
def test_the_delegation_form_answers_any_query_string(admin_client, query):
    before = state()

    assert_answer(admin_client.get(f"{reverse('admin:tasks_task_delegate')}?{query}"), before)


@hostile.PROPERTIES
@given(data=hostile.form_data(DELEGATION_FIELDS), ids=st.data())
def test_the_delegation_form_answers_any_form(admin_client, project, slides, assignment, data, ids):
    # Real ids, sometimes: the form then gets past its choices to the pattern and the plan.
    real = {
        "project": [str(project.pk)],
        "slides": [str(slide.pk) for slide in slides],
        "annotators": [str(assignment.assignee_id)],
    }
    for field, choices in real.items():
        if ids.draw(st.booleans(), label=f"real {field}"):
            data[field] = choices
    before = state()

    response = admin_client.post(reverse("admin:tasks_task_delegate"), data)

    assert_answer(response, before, wrote=response.status_code == 302)


REVIEW_DELEGATION_FIELDS = [
    "reviewed_task",
    "reviewed_assignments",
    "task_name",
    "instructions",
    "reviewers",
    "overlap",
    "case_pattern",
    "confirm",
]


@pytest.fixture
def reviewer(assignment):
    """A reviewer, and the annotator's slides annotated, so that review plans can be made."""
    assignment.assignment_slides.update(state=AssignmentSlide.State.IN_PROGRESS)
    return factories.user_create("reviewer", role=roles.REVIEWER)


@hostile.PROPERTIES
@given(data=hostile.form_data(REVIEW_DELEGATION_FIELDS), ids=st.data())
def test_the_review_delegation_form_answers_any_form(admin_client, assignment, reviewer, data, ids):
    real = {
        "reviewed_task": [str(assignment.task_id)],
        "reviewed_assignments": [str(assignment.pk)],
        "reviewers": [str(reviewer.pk), str(assignment.assignee_id)],
    }
    for field, choices in real.items():
        if ids.draw(st.booleans(), label=f"real {field}"):
            data[field] = choices
    before = state()

    response = admin_client.post(reverse("admin:tasks_task_delegate") + "?kind=review", data)

    assert_answer(response, before, wrote=response.status_code == 302)


def changelists() -> list[str]:
    return [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in admin.site._registry
    ]


@hostile.PROPERTIES
@given(
    url=st.sampled_from(changelists()),
    query=hostile.query_strings(["q", "o", "p", "e", "all", "status__exact", "is_staff__exact"]),
)
@example(url="/admin/annotations/annotation/", query="q=%00")
@example(url="/admin/annotations/annotation/", query="q=not-a-uuid%C2%B2")
@example(url="/admin/tasks/assignment/", query="o=99&p=%C2%B2")
def test_every_admin_changelist_answers_any_search(admin_client, url, query):
    before = state()

    assert_answer(admin_client.get(f"{url}?{query}"), before)


@hostile.PROPERTIES
@given(data=hostile.form_data(["username", "password", "next"]))
@example(data={"username": "admin\x00", "password": "x"})
def test_the_log_in_form_answers_any_form(annotator, data):
    before = state()

    response = Client().post(reverse("login"), data)

    assert_answer(response, before)


CHARSETS = ["utf-8", "unicode_escape", "raw_unicode_escape", "utf-16", "utf-7", "latin-1", "bogus"]


@hostile.PROPERTIES
@given(
    charset=st.sampled_from(CHARSETS),
    username=st.binary(max_size=20) | st.sampled_from([b"\\ud800", b"\\x00", b"\\udfff\\u0000"]),
    password=st.binary(max_size=20),
)
@example(charset="unicode_escape", username=b"\\ud800", password=b"x")  # was a 500
def test_the_log_in_form_answers_any_multipart_charset(annotator, charset, username, password):
    body = b"".join(
        b'--x\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (name, value)
        for name, value in ((b"username", username), (b"password", password))
    )
    content_type = f"multipart/form-data; boundary=x; charset={charset}"
    before = state()

    response = Client().generic("POST", reverse("login"), body + b"--x--\r\n", content_type)

    assert_answer(response, before)


# --- The delegation plan ------------------------------------------------------------------------


@st.composite
def delegations(draw, *, exclusions: bool = True, cases: bool = True):
    """Units (single slides, or cases of several), people, an overlap and exclusions."""
    people = [f"person{i}" for i in range(draw(st.integers(1, 6)))]
    slides = [f"slide{i}.svs" for i in range(draw(st.integers(1, 30)))]
    if cases and draw(st.booleans()):
        case_of = draw(st.lists(st.integers(0, 5), min_size=len(slides), max_size=len(slides)))
        grouped: dict[int, list[str]] = {}
        for slide, case in zip(slides, case_of, strict=True):
            grouped.setdefault(case, []).append(slide)
        units = [delegation.Unit(f"case{k}", tuple(v)) for k, v in sorted(grouped.items())]
    else:
        units = [delegation.Unit(slide, (slide,)) for slide in slides]
    excluded = {}
    if exclusions:
        excluded = draw(
            st.dictionaries(st.sampled_from(slides), st.sets(st.sampled_from(people), max_size=3))
        )
    return units, people, draw(st.integers(1, len(people))), excluded


def barred(unit, excluded) -> set:
    return {person for slide in unit.slides for person in excluded.get(slide, ())}


@given(delegations())
def test_every_unit_goes_to_exactly_k_distinct_people_none_excluded(case):
    units, people, overlap, excluded = case
    short = [u for u in units if len(people) - len(barred(u, excluded) & set(people)) < overlap]

    try:
        shares = delegation.plan(units, people, overlap, excluded=excluded, noun="reviewer")
    except delegation.PlanError as refused:
        assert short, str(refused)
        assert f"cannot go to {overlap} different reviewers" in str(refused)
        return

    assert not short
    assert shares == delegation.plan(units, people, overlap, excluded=excluded)  # deterministic
    for unit in units:
        holders = [p for p, share in shares.items() if unit.slides[0] in share]
        assert len(holders) == overlap
        assert not set(holders) & barred(unit, excluded)
        assert all(set(unit.slides) <= set(shares[p]) for p in holders)  # a case stays together
    assert sorted(s for share in shares.values() for s in share) == sorted(
        s for unit in units for s in unit.slides for _ in range(overlap)
    )


@given(delegations(exclusions=False, cases=False))
def test_without_exclusions_or_cases_loads_are_within_one(case):
    units, people, overlap, _ = case

    shares = delegation.plan(units, people, overlap)

    loads = [len(share) for share in shares.values()]
    assert max(loads) - min(loads) <= 1
