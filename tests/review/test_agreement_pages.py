"""The agreement pages, the summary on the project overview, the cache and the budget."""

from unittest import mock

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotations import services as annotation_services
from review import agreement
from tasks import roles
from tasks.models import Project, Task
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_project(db):
    return Project.objects.create(name="Lung nodules")


@pytest.fixture
def people(project, other_project):
    def person(name, *, role="", member=project, **extra):
        user = factories.user_create(name, role=role, **extra)
        if member is not None:
            member.members.add(user)
        return user

    return {
        "anonymous": None,
        "pathologist": person("pathologist", role=roles.ANNOTATOR),
        "second": person("second", role=roles.ANNOTATOR),
        "manager": person("manager", role=roles.PROJECT_MANAGER),
        "other manager": person("other-manager", role=roles.PROJECT_MANAGER, member=other_project),
        "staff": person("staff-member", is_staff=True),
        "other staff": person("other-staff", is_staff=True, member=other_project),
        "outsider": person("outsider", member=None),
        "superuser": person("root", is_staff=True, is_superuser=True, member=None),
    }


@pytest.fixture
def slides(slides_root, db):
    return [
        factories.slide_create(slides_root, name, width=600, height=400, seed=i)
        for i, name in enumerate(["CASE-01-A.tiff", "CASE-02-A.tiff"])
    ]


@pytest.fixture
def labels(project):
    return {label.name: label for label in project.labels.all()}


@pytest.fixture
def task(project, people, slides):
    task, _ = factories.annotation_task_create(
        project=project,
        name="Round 1",
        slides=slides,
        annotators=[people["pathologist"], people["second"]],
    )
    return task


@pytest.fixture
def drawn(task, slides, labels):
    """On the first slide: Tumour squares overlapping by half (Dice 1/2, IoU 1/3, no object
    match), identical Stroma squares (Dice 1, one match). The second slide stays empty."""
    first, second = task.assignments.order_by("assignee__username")  # pathologist, second
    draw = factories.annotation_draw
    tumour, stroma = labels["Tumour"], labels["Stroma"]
    return {
        "pathologist": [
            draw(assignment=first, slide=slides[0], label=tumour, geometry=factories.square(0, 0)),
            draw(
                assignment=first, slide=slides[0], label=stroma, geometry=factories.square(300, 0)
            ),
        ],
        "second": [
            draw(
                assignment=second, slide=slides[0], label=tumour, geometry=factories.square(50, 0)
            ),
            draw(
                assignment=second, slide=slides[0], label=stroma, geometry=factories.square(300, 0)
            ),
        ],
    }


def project_url(project, **query):
    url = reverse("review:project_agreement", args=[project.pk])
    return f"{url}?{'&'.join(f'{k}={v}' for k, v in query.items())}" if query else url


def slide_url(project, slide, task=None):
    url = reverse("review:slide_agreement", args=[project.pk, slide.pk])
    return url if task is None else f"{url}?task={task.pk}"


LOGIN = "login"
PERSONAS = [
    "anonymous",
    "pathologist",
    "outsider",
    "manager",
    "other manager",
    "staff",
    "other staff",
    "superuser",
]
# page: status for each persona above. An annotator of the project may see that it exists
# (403); anyone else who is not its manager, a staff member of it or a superuser: 404.
EXPECTED = {
    "project agreement": (LOGIN, 403, 404, 200, 404, 200, 404, 200),
    "slide agreement": (LOGIN, 403, 404, 200, 404, 200, 404, 200),
}


@pytest.mark.parametrize("page", EXPECTED)
@pytest.mark.parametrize("persona", PERSONAS)
def test_access(client_for, people, project, task, slides, drawn, page, persona):
    url = {
        "project agreement": project_url(project),
        "slide agreement": slide_url(project, slides[0], task),
    }[page]
    expected = EXPECTED[page][PERSONAS.index(persona)]

    response = client_for(people[persona]).get(url)

    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == expected


def test_the_project_page_shows_agreement_per_task_pair_and_label(
    client_for, people, project, task, labels, drawn
):
    response = client_for(people["manager"]).get(project_url(project))

    assert response.status_code == 200
    (item,) = response.context["report"].tasks
    assert item.task == task
    # Pooled over labels: areas 100² + 100² against 100² + 100², shared 50 × 100 + 100²:
    # Dice 2 × 15,000 / 40,000; objects: 1 match of 2 and 2, F1 1/2.
    assert item.overall.mean_dice == pytest.approx(0.75)
    assert item.overall.mean_iou == pytest.approx(15_000 / 25_000)
    assert item.overall.objects.f1 == pytest.approx(0.5)
    assert item.overall.slides == 2
    assert item.overall.areas == 1  # the empty slide has no area to agree on
    (pair,) = item.pairs
    assert [pair.a.assignee.username, pair.b.assignee.username] == ["pathologist", "second"]
    per_label = {label.name: figures for label, figures in item.labels}
    assert per_label["Tumour"].mean_dice == pytest.approx(0.5)
    assert per_label["Tumour"].mean_iou == pytest.approx(1 / 3)
    assert per_label["Tumour"].objects.matched == 0
    assert per_label["Stroma"].mean_dice == 1 and per_label["Stroma"].objects.f1 == 1
    assert [row.annotators for row in item.slides] == [2, 2]
    text = response.content.decode()
    assert "0.750" in text and "0.333" in text
    assert slide_url(project, drawn["pathologist"][0].slide, task) in text
    assert "<svg" in text and "<script" not in text.split("</nav>", 1)[1]


def test_the_slide_page_compares_each_pair_per_label_and_opens_both_layers(
    client_for, people, project, task, slides, labels, drawn
):
    first, second = task.assignments.order_by("assignee__username")

    response = client_for(people["manager"]).get(slide_url(project, slides[0], task))

    assert response.status_code == 200
    (pair,) = response.context["pairs"]
    by_label = {label.name: comparison for label, comparison in pair["labels"]}
    assert by_label["Tumour"].area.dice == pytest.approx(0.5)
    assert by_label["Stroma"].objects.matched == 1
    assert pair["overall"].area.dice == pytest.approx(0.75)
    viewer = reverse("slides:viewer", args=[slides[0].pk])
    link = f"{viewer}?layers=assignment-{first.pk},assignment-{second.pk}"
    assert f'href="{link}"' in response.content.decode()
    assert "Open the slide with both layers" in response.content.decode()


def test_the_slide_page_picks_the_first_task_holding_the_slide(
    client_for, people, project, task, slides, drawn
):
    response = client_for(people["manager"]).get(slide_url(project, slides[0]))

    assert response.status_code == 200
    assert response.context["task"] == task


def test_every_pair_of_three_annotators_is_compared(project, slides, labels):
    people = [factories.user_create(name) for name in ("ann", "bob", "cat")]
    task, assignments = factories.annotation_task_create(
        project=project, name="Triple", slides=slides[:1], annotators=people
    )
    tumour = labels["Tumour"]
    for assignment, x in zip(assignments, (0, 0, 50), strict=True):
        factories.annotation_draw(
            assignment=assignment, slide=slides[0], label=tumour, geometry=factories.square(x, 0)
        )

    result = agreement.slide_agreement(task=task, slide=slides[0])

    ids = [a.pk for a in assignments]
    dice = {(pair.a, pair.b): pair.labels[tumour.pk].area.dice for pair in result.pairs}
    assert dice == {
        (ids[0], ids[1]): 1,
        (ids[0], ids[2]): pytest.approx(0.5),
        (ids[1], ids[2]): pytest.approx(0.5),
    }


@pytest.mark.parametrize(
    "query, status, message",
    [
        ({"task": "abc"}, 400, "task must be the id"),
        ({"task": "-1"}, 400, "task must be the id"),
        ({"task": "9" * 40}, 400, "task must be the id"),
        ({"task": "999999"}, 404, ""),
    ],
)
def test_a_bad_task_is_refused_with_a_message(
    client_for, people, project, task, slides, query, status, message
):
    client = client_for(people["manager"])

    for url in (
        project_url(project, **query),
        f"{slide_url(project, slides[0])}?task={query['task']}",
    ):
        response = client.get(url)
        assert response.status_code == status
        assert message in response.content.decode()


def test_another_projects_task_is_404(client_for, people, project, other_project, slides):
    foreign, _ = factories.annotation_task_create(
        project=other_project, name="Elsewhere", slides=slides, annotators=[]
    )
    client = client_for(people["manager"])

    assert client.get(project_url(project, task=foreign.pk)).status_code == 404
    assert client.get(slide_url(project, slides[0], foreign)).status_code == 404


def test_a_review_task_has_no_agreement_page(client_for, people, project, task, slides):
    review = Task.objects.create(
        project=project, name="Review 1", kind=Task.Kind.REVIEW, reviewed_task=task
    )

    response = client_for(people["manager"]).get(project_url(project, task=review.pk))

    assert response.status_code == 404


def test_a_slide_outside_the_task_is_404(client_for, people, project, task, slides_root):
    elsewhere = factories.slide_create(slides_root, "CASE-09-A.tiff", width=300, height=200)

    response = client_for(people["manager"]).get(slide_url(project, elsewhere, task))

    assert response.status_code == 404


def test_a_slide_with_one_annotator_says_there_is_nothing_to_compare(
    client_for, people, project, slides
):
    task, _ = factories.annotation_task_create(
        project=project, name="Solo", slides=slides[:1], annotators=[people["pathologist"]]
    )

    response = client_for(people["manager"]).get(slide_url(project, slides[0], task))

    assert response.status_code == 200
    assert "Only one annotator holds this slide" in response.content.decode()


@pytest.fixture
def computations():
    """Count the slide computations (the cache's misses)."""
    with mock.patch.object(
        agreement, "slide_agreement_compute", wraps=agreement.slide_agreement_compute
    ) as spy:
        yield spy


def test_a_second_look_reads_the_cache(task, slides, drawn, computations):
    first = agreement.slide_agreement(task=task, slide=slides[0])
    again = agreement.slide_agreement(task=task, slide=slides[0])

    assert computations.call_count == 1
    assert again == first


def test_the_pages_share_the_cache(client_for, people, project, task, slides, drawn, computations):
    client = client_for(people["manager"])

    client.get(project_url(project))
    client.get(project_url(project))
    client.get(slide_url(project, slides[0], task))

    assert computations.call_count == 2  # the two slides, once each


def test_an_edited_annotation_is_computed_again(task, slides, labels, drawn, computations):
    tumour = drawn["second"][0]
    before = agreement.slide_agreement(task=task, slide=slides[0])

    annotation_services.annotation_update(
        annotation=tumour,
        actor=tumour.author,
        version=tumour.version,
        geometry=factories.square(0, 0),
    )
    after = agreement.slide_agreement(task=task, slide=slides[0])

    assert computations.call_count == 2
    assert before.pairs[0].labels[labels["Tumour"].pk].area.dice == pytest.approx(0.5)
    assert after.pairs[0].labels[labels["Tumour"].pk].area.dice == 1


def test_a_deleted_annotation_is_computed_again_and_left_out(
    task, slides, labels, drawn, computations
):
    agreement.slide_agreement(task=task, slide=slides[0])
    tumour = drawn["second"][0]

    annotation_services.annotation_delete(
        annotation=tumour, actor=tumour.author, version=tumour.version
    )
    after = agreement.slide_agreement(task=task, slide=slides[0])

    assert computations.call_count == 2
    objects = after.pairs[0].labels[labels["Tumour"].pk].objects
    assert (objects.count_a, objects.count_b) == (1, 0)


def test_a_new_annotator_on_the_slide_is_computed_again(project, task, slides, drawn, computations):
    agreement.slide_agreement(task=task, slide=slides[0])
    third = factories.user_create("third", role=roles.ANNOTATOR)
    from tasks import services as task_services

    task_services.assignment_create(task=task, assignee=third, slides=slides[:1], actor=None)
    after = agreement.slide_agreement(task=task, slide=slides[0])

    assert computations.call_count == 2
    assert len(after.pairs) == 3


@pytest.fixture
def broken_cache(settings, slides_root):
    """The default cache is a Redis that refuses connections (put back before slides_root
    empties the caches, which needs them)."""
    from slides import sharedcache

    saved = settings.CACHES
    settings.CACHES = {
        **saved,
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
        },
    }
    sharedcache.reset()
    yield
    settings.CACHES = saved
    sharedcache.reset()


def test_a_cache_that_fails_leaves_the_pages_working(
    client_for, people, project, task, slides, drawn, broken_cache, computations
):
    client = client_for(people["manager"])

    overview = client.get(project_url(project))
    detail = client.get(slide_url(project, slides[0], task))

    assert overview.status_code == detail.status_code == 200
    assert overview.context["report"].tasks[0].overall.mean_dice == pytest.approx(0.75)
    assert computations.call_count == 3  # nothing could be kept


def test_slides_beyond_the_budget_are_counted_and_left_for_later(
    client_for, people, project, task, drawn, computations
):
    with mock.patch.object(agreement, "PAGE_BUDGET_SECONDS", 0):
        response = client_for(people["manager"]).get(project_url(project))

    assert computations.call_count == 0
    assert response.context["report"].missing == 2
    assert "2 slides not yet computed" in response.content.decode()

    call_command("compute_agreement", "--project", str(project.pk), stdout=mock.Mock())

    report = agreement.project_agreement(project=project, budget_seconds=0)
    assert report.missing == 0 and report.computed == 0
    assert report.tasks[0].overall.mean_dice == pytest.approx(0.75)


def test_a_slide_too_costly_for_what_is_left_of_the_budget_is_not_started(
    project, task, drawn, computations
):
    # Four annotations on the first slide; at 1 s each, no slide fits in 2 s but the empty one.
    with mock.patch.object(agreement, "SECONDS_PER_ANNOTATION", 1.0):
        report = agreement.project_agreement(project=project, budget_seconds=2)

    assert computations.call_count == 1
    assert report.missing == 1


def test_the_cached_project_page_costs_the_same_queries_for_more_slides(
    client_for, people, project, task, slides, slides_root, drawn, django_assert_max_num_queries
):
    client = client_for(people["manager"])
    client.get(project_url(project))
    with django_assert_max_num_queries(30) as few:
        client.get(project_url(project))
    queries = len(few)  # the log is emptied when the next request starts
    more = [
        factories.slide_create(slides_root, f"CASE-1{i}-A.tiff", width=300, height=200, seed=i)
        for i in range(4)
    ]
    from tasks import services as task_services

    task_services.task_add_slides(task=task, slides=more, actor=None)
    for assignment in task.assignments.all():
        task_services.assignment_set_slides(
            assignment=assignment, slides=[*slides, *more], actor=None
        )
    client.get(project_url(project))

    with django_assert_max_num_queries(queries):
        client.get(project_url(project))


def test_the_project_overview_shows_the_summary(client_for, people, project, task, drawn):
    response = client_for(people["manager"]).get(
        reverse("tasks:project_overview", args=[project.pk])
    )

    text = response.content.decode()
    assert 'id="agreement-summary"' in text
    assert "0.750" in text  # Dice of "Round 1"
    assert f"{project_url(project)}?task={task.pk}" in text


def test_the_summary_computes_only_within_its_budget(
    client_for, people, project, task, drawn, computations
):
    client = client_for(people["manager"])
    overview = reverse("tasks:project_overview", args=[project.pk])

    with mock.patch.object(agreement, "SUMMARY_BUDGET_SECONDS", 0):
        before = client.get(overview).content.decode()
    client.get(project_url(project))  # computes both slides
    with mock.patch.object(agreement, "SUMMARY_BUDGET_SECONDS", 0):
        after = client.get(overview).content.decode()

    assert computations.call_count == 2
    assert "2 slides not yet computed" in before and "0.750" not in before
    assert "not yet computed." not in after and "0.750" in after


def test_nobody_but_the_overviews_readers_gets_the_summary(
    client_for, people, project, task, drawn, computations
):
    response = client_for(people["pathologist"]).get(
        reverse("tasks:project_overview", args=[project.pk])
    )

    assert response.status_code == 403
    assert "agreement-summary" not in response.content.decode()
    assert computations.call_count == 0


def test_other_pages_get_no_summary(client_for, people, task, drawn, computations):
    response = client_for(people["manager"]).get(reverse("tasks:project_list"))

    assert "agreement_summary" not in response.context
    assert computations.call_count == 0


def test_a_slide_page_leaves_a_slide_of_too_many_annotations_to_the_command(
    client_for, people, project, task, slides, drawn, computations
):
    with mock.patch.object(agreement, "MAX_PAGE_ANNOTATIONS", 1):
        response = client_for(people["manager"]).get(slide_url(project, slides[0], task))

    assert response.status_code == 200
    assert computations.call_count == 0
    assert "run python manage.py compute_agreement" in response.content.decode()
    # The command has no such bound: the page then reads what it stored.
    call_command("compute_agreement", "--project", str(project.pk), stdout=mock.Mock())
    with mock.patch.object(agreement, "MAX_PAGE_ANNOTATIONS", 1):
        response = client_for(people["manager"]).get(slide_url(project, slides[0], task))
    assert response.context["result"].pairs


def test_regions_overlapping_beyond_the_bound_are_refused_not_compared(
    project, task, slides, drawn
):
    with mock.patch.object(agreement, "MAX_CANDIDATE_PAIRS", 0):
        with pytest.raises(agreement.AgreementTooLarge, match="pairs of regions overlap"):
            agreement.slide_agreement(task=task, slide=slides[0])
        report = agreement.project_agreement(project=project, budget_seconds=10)

    assert report.too_large == 1 and report.missing == 1
