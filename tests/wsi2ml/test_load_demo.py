"""``load_demo``: demo slides when there are none, a scan, an account per role, a delegated task."""

import re
from io import StringIO

import numpy as np
import openslide
import pytest
import tifffile
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.db.models import Sum
from django.test import RequestFactory
from django.urls import reverse

from annotations.models import Annotation, AnnotationCell, AnnotationRevision
from exports.permissions import exportable_projects
from review.models import Verdict
from slides import demo
from slides.models import Slide
from slides.permissions import user_can_view_slide
from tasks import roles
from tasks.models import Assignment, AssignmentSlide, Project, Task
from tests import factories
from wsi2ml import demo as wsi2ml_demo

pytestmark = pytest.mark.django_db

SMALL_SLIDES = tuple((path, 512, 512, seed) for path, _, _, seed in wsi2ml_demo.DEMO_SLIDES)


def log_in(*, username: str, password: str):
    """Authenticate as the log-in page does: with the request, which django-axes requires."""
    request = RequestFactory().post(reverse("login"))
    return authenticate(request, username=username, password=password)


@pytest.fixture(autouse=True)
def role_groups(db):
    """The role groups the migrations make, made again where a flushing test in the same
    process (a browser test) removed them: load_demo expects them, as after migrate."""
    for role in roles.ROLE_PERMISSIONS:
        factories.role_group(role)


@pytest.fixture
def small_demo(monkeypatch):
    """Draw smaller demo slides, so that these tests stay quick."""
    monkeypatch.setattr(wsi2ml_demo, "DEMO_SLIDES", SMALL_SLIDES)


def load_demo() -> str:
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def passwords_in(output: str) -> dict[str, str]:
    """The passwords printed for each username, leaving out those said to be unchanged."""
    found = dict(re.findall(r"username: (\S+)\s+password: (\S+)", output))
    return {username: password for username, password in found.items() if password != "unchanged"}


def user(username):
    return get_user_model().objects.get(username=username)


def test_it_draws_and_registers_demo_slides_in_an_empty_root(slides_root, small_demo):
    output = load_demo()

    assert sorted(Slide.objects.values_list("path", flat=True)) == [p for p, *_ in SMALL_SLIDES]
    assert set(Slide.objects.values_list("status", flat=True)) == {Slide.Status.OK}
    assert Slide.objects.first().mpp == pytest.approx(demo.DEMO_MPP)
    assert "4 created" in output


def test_it_creates_the_root_when_it_does_not_exist(tmp_path, settings, small_demo):
    settings.SLIDES_ROOT = tmp_path / "not" / "yet" / "there"

    load_demo()

    assert (tmp_path / "not" / "yet" / "there" / SMALL_SLIDES[0][0]).is_file()


def test_it_registers_existing_slides_instead_of_drawing(slides_root, monkeypatch):
    factories.write_pyramid_tiff(slides_root / "mine" / "case.tiff", 600, 400)

    def must_not_draw(path, **kwargs):
        raise AssertionError("a demo slide was drawn although slides exist")

    monkeypatch.setattr(demo, "write_demo_slide", must_not_draw)
    load_demo()

    assert list(Slide.objects.values_list("path", flat=True)) == ["mine/case.tiff"]


def test_it_creates_an_account_in_every_role(slides_root, small_demo, settings):
    settings.DEMO_PASSWORD = ""

    output = load_demo()

    assert user("admin").is_superuser and user("admin").is_staff
    roles = {
        "pathologist": "Annotator",
        "pathologist2": "Annotator",
        "reviewer": "Reviewer",
        "manager": "Project manager",
        "mlspecialist": "ML specialist",
    }
    for username, role in roles.items():
        assert list(user(username).groups.values_list("name", flat=True)) == [role]
        assert not user(username).is_superuser
    assert user("manager").is_staff and not user("pathologist").is_staff
    passwords = passwords_in(output)
    assert len(set(passwords.values())) == 1
    assert len(passwords["admin"]) >= 12
    assert log_in(username="pathologist", password=passwords["pathologist"])
    # scripts/demo.sh prints the address (its PORT) and these lines once its server answers.
    assert "Demo ready. Log-ins:" in output and "start the server" not in output


def test_it_delegates_the_slides_with_overlap_two(slides_root, small_demo):
    load_demo()

    project = Project.objects.get(name=wsi2ml_demo.DEMO_PROJECT)
    assert [label.name for label in project.labels.all()][:4] == [
        "Tumour",
        "Stroma",
        "Necrosis",
        "Lymphocytes",
    ]
    task = project.tasks.get(kind=Task.Kind.ANNOTATION)
    for slide in Slide.objects.all():
        assert AssignmentSlide.objects.filter(assignment__task=task, slide=slide).count() == 2
    mine = set(Slide.objects.filter(assignment_slides__assignment__assignee=user("pathologist")))
    theirs = set(Slide.objects.filter(assignment_slides__assignment__assignee=user("pathologist2")))
    assert mine - theirs and theirs - mine
    for slide in mine:
        assert user_can_view_slide(user("pathologist"), slide)
    outsider = factories.user_create("outsider")
    assert not any(user_can_view_slide(outsider, slide) for slide in Slide.objects.all())


def test_running_it_again_changes_nothing(slides_root, small_demo, settings):
    settings.DEMO_PASSWORD = ""
    first = passwords_in(load_demo())
    counts = (get_user_model().objects.count(), Task.objects.count(), Assignment.objects.count())

    again = load_demo()

    assert Slide.objects.count() == 4
    assert counts == (
        get_user_model().objects.count(),
        Task.objects.count(),
        Assignment.objects.count(),
    )
    assert "0 created" in again and "4 unchanged" in again
    assert "unchanged (set DEMO_PASSWORD" in again
    assert log_in(username="admin", password=first["admin"]) is not None


def test_demo_password_setting_sets_every_demo_password(slides_root, small_demo, settings):
    settings.DEMO_PASSWORD = ""
    load_demo()
    settings.DEMO_PASSWORD = "demo-passphrase-1"

    output = load_demo()

    assert set(passwords_in(output).values()) == {"demo-passphrase-1"}
    for username, *_ in wsi2ml_demo.DEMO_ACCOUNTS:
        assert log_in(username=username, password="demo-passphrase-1") is not None


def test_an_existing_account_keeps_its_password_and_flags(slides_root, small_demo, settings):
    settings.DEMO_PASSWORD = ""
    existing = factories.user_create("admin")

    output = load_demo()

    existing.refresh_from_db()
    assert not existing.is_superuser
    assert log_in(username="admin", password=factories.PASSWORD) == existing
    assert "admin" not in passwords_in(output)
    assert "pathologist" in passwords_in(output)


def test_the_full_size_demo_slide_is_a_tiled_pyramid(tmp_path):
    path = demo.write_demo_slide(tmp_path / "demo.tiff")

    with openslide.OpenSlide(path) as osr:
        assert osr.properties[openslide.PROPERTY_NAME_VENDOR] == "generic-tiff"
        assert osr.dimensions == (demo.DEMO_WIDTH, demo.DEMO_HEIGHT)
        assert osr.level_count == 5
        assert float(osr.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(0.5)
        overview = osr.get_thumbnail((256, 256)).convert("RGB")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert (page.tilewidth, page.tilelength) == (256, 256)
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert [p.subfiletype for p in tif.pages] == [0, 1, 1, 1, 1]
    assert not list(tmp_path.glob(".*.partial"))
    red, green, blue = np.asarray(overview, dtype=float).mean(axis=(0, 1))
    assert red > green and blue > green  # pink and purple tissue on white glass


def test_the_demo_slide_is_deterministic(tmp_path):
    first = demo.write_demo_slide(tmp_path / "a.tiff", width=512, height=512)
    second = demo.write_demo_slide(tmp_path / "b.tiff", width=512, height=512)
    other = demo.write_demo_slide(tmp_path / "c.tiff", width=512, height=512, seed=8)

    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_it_gives_two_pathologists_annotations_of_every_kind(slides_root, small_demo):
    output = load_demo()

    assert Annotation.objects.exclude(revisions=None).count() == Annotation.objects.count()
    drawn = Annotation.objects.filter(assignment__task__kind=Task.Kind.ANNOTATION)
    authors = set(drawn.values_list("author__username", flat=True))
    assert authors == {"pathologist", "pathologist2"}
    assert set(drawn.values_list("kind", flat=True)) == set(Annotation.Kind.values)
    created = drawn.count()
    assert 24 <= created <= 120
    assert f"Demo annotations: {created} created." in output
    brush = Annotation.objects.filter(kind="brush").first()
    assert len(brush.geometry["coordinates"]) == 2  # a shell and its hole
    for annotation in Annotation.objects.all():
        assert annotation.assignment.assignee == annotation.author
        assert annotation.assignment.assignment_slides.filter(slide=annotation.slide).exists()
    cells = AnnotationCell.objects.aggregate(total=Sum("count"))["total"]
    assert cells == Annotation.objects.count()  # the reviewer's missed region included


def test_running_it_again_adds_no_annotation(slides_root, small_demo):
    load_demo()
    before = (
        Annotation.objects.count(),
        AnnotationRevision.objects.count(),
        list(AnnotationCell.objects.values_list("gx", "gy", "count")),
    )

    again = load_demo()

    after = (
        Annotation.objects.count(),
        AnnotationRevision.objects.count(),
        list(AnnotationCell.objects.values_list("gx", "gy", "count")),
    )
    assert after == before
    assert "Demo annotations: 0 created." in again


def test_demo_annotations_are_placed_on_tissue(slides_root, small_demo):
    load_demo()

    points = Annotation.objects.filter(kind="point").select_related("slide")
    assert points.count() >= 6
    for point in points:
        x, y = point.geometry["coordinates"]
        with openslide.OpenSlide(slides_root / point.slide.path) as slide:
            pixel = slide.read_region((int(x) - 1, int(y) - 1), 0, (3, 3)).convert("RGB")
        assert np.asarray(pixel, dtype=np.float32).mean() < 235, (point.slide.path, x, y)


def test_demo_shapes_keep_their_layout_without_a_readable_slide():
    shapes = wsi2ml_demo._demo_shapes(1000, 800, "seed", tissue=None)
    on_tissue = wsi2ml_demo._demo_shapes(1000, 800, "seed", tissue=np.array([[500.0, 400.0]]))

    points = [shape["coordinates"] for _, kind, shape, _ in shapes if kind == "point"]
    assert all(0 < x < 1000 and 0 < y < 800 for x, y in points)
    assert len(set(map(tuple, points))) == 3
    moved = [shape["coordinates"] for _, kind, shape, _ in on_tissue if kind == "point"]
    assert moved == [[500.0, 400.0]] * 3


def test_it_delegates_a_review_with_verdicts_of_every_kind(slides_root, small_demo):
    output = load_demo()

    review = Task.objects.get(kind=Task.Kind.REVIEW)
    assert review.reviewed_task.name == wsi2ml_demo.DEMO_TASK
    assert f"Review task “{review.name}”" in output
    (share,) = review.assignments.all()
    assert share.assignee.username == "reviewer"
    # Every slide the two demo pathologists annotated is under review, none of their own.
    annotated = set(
        Annotation.objects.filter(assignment__task=review.reviewed_task).values_list(
            "slide_id", flat=True
        )
    )
    assert set(share.assignment_slides.values_list("slide_id", flat=True)) == annotated
    current = Verdict.objects.filter(is_current=True, review_assignment=share)
    assert set(current.values_list("kind", flat=True)) == set(Verdict.Kind.values)
    assert current.filter(kind="wrong_region", geometry__isnull=False).exists()
    assert current.exclude(comment="").exists()
    missed = Annotation.objects.get(assignment=share)
    assert missed.name == "Missed tumour focus"


def test_running_it_again_adds_no_verdict(slides_root, small_demo):
    load_demo()
    verdicts, annotations = Verdict.objects.count(), Annotation.objects.count()

    load_demo()

    assert (Verdict.objects.count(), Annotation.objects.count()) == (verdicts, annotations)


def test_the_demo_manager_follows_the_demo_project(slides_root, small_demo):
    load_demo()

    project = Project.objects.get(name=wsi2ml_demo.DEMO_PROJECT)
    assert project.members.filter(username="manager").exists()


def test_the_demo_ml_specialist_may_export_the_demo_project(slides_root, small_demo):
    load_demo()

    project = Project.objects.get(name=wsi2ml_demo.DEMO_PROJECT)
    assert list(user("mlspecialist").projects.all()) == [project]
    assert list(exportable_projects(user("mlspecialist"))) == [project]
