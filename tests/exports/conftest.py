"""Personas and hand-built data for the export tests, made through the services (no raw rows).

Project “Breast tumour segmentation” (the root ``project`` fixture), labels in this order:
Tumour #d62728, Stroma #2ca02c, Necrosis #7f7f7f. Three slides, 20000 × 16000 px at 0.25 µm/px
(registered small files, sizes set as a scanner's): A = ``a/case.tif``, B = ``b/case.tif`` (the
same file name in another folder), C = ``c/other.tif``.

Tasks: “Tumour outlines” (annotation, on A, B, C) with the assignments of pathologist (P) and
second (S); “Outline review” (review of it, on A and B) with the assignments of reviewer (R1)
and second-reviewer (R2).

Progress ("completed work" is a slide marked done or an assignment completed):
- P: A and B marked done, C in progress: P's assignment is in progress;
- S: A marked done, then the assignment closed by the manager: completed (B and C count too);
- R1: A marked reviewed (done), B not; R2: nothing marked.

Annotations (``data.annotations[name]``; squares are ``factories.square(x, x)``, 100 px wide,
area 10000 px² = 625 µm²):

==== ===== ========= ===================== =========================================== ========
name slide author    label, geometry       current verdicts (R1; R2)                   done?
==== ===== ========= ===================== =========================================== ========
a1   A     P         Tumour, square 100    agree; agree                                yes
a2   A     P         Stroma, square 400    wrong_label Tumour; agree (a label tie)      yes
a3   A     P         Tumour, square 700    reject (replacing an agree); none           yes
a4   A     S         Tumour, square 1000   wrong_region → rectangle(1000, 1000,        yes
                                           1200, 1100); agree
a5   A     S         Necrosis, square 1300 none; none (R2's agree withdrawn)           yes
a6   A     P         Tumour, square 1600   deleted by P: never exported                —
m1   A     R1        Necrosis, rectangle   missed region (review assignment)           yes
                     (2000, 2000, 2300,
                     2200)
b1   B     P         Tumour, square 100    none; wrong_label Necrosis                  yes
b2   B     S         Stroma, square 500    agree; reject                               yes
b3   B     P         Necrosis, line        none; none                                  yes
                     (100, 2000)-(500,
                     2000)
m2   B     R2        Stroma, square 3000   missed region (review assignment)           no
c1   C     P         Tumour, square 100    none                                        no
c2   C     S         Stroma, square 300    none                                        yes
==== ===== ========= ===================== =========================================== ========

Agree fractions: a1 1, a2 0.5, a3 0, a4 0.5, b1 0, b2 0.5, m1 and m2 1 (missed regions), the
others None. Consensus labels: a1 Tumour, a2 tie, a3 none (no vote for a label), a4 Tumour,
b1 Necrosis, b2 Stroma.

Elsewhere: project “Lung nodules” (label Nodule) with slide D = ``d/lung.tif`` in its task
“Nodules”, where lung-annotator drew one Nodule square.

Personas (``people[name]``): mlspecialist (ML specialist, member of the project), ml-outsider
(ML specialist, member of Lung nodules only), inactive-ml (ML specialist member, deactivated),
manager (project manager and staff, member), other-manager (the same for Lung nodules),
pathologist and second (annotators, members), reviewer and second-reviewer (reviewers,
members), lung-annotator, outsider, superuser (admin).
"""

from dataclasses import dataclass

import pytest

from annotations import services as annotation_services
from annotations.models import Annotation
from review import services as review_services
from slides.models import Slide
from tasks import roles
from tasks import services as task_services
from tasks.models import Assignment, AssignmentSlide, Label, Project, Task
from tests import factories

WIDTH, HEIGHT, MPP = 20000, 16000, 0.25
SLIDE_PATHS = {"A": "a/case.tif", "B": "b/case.tif", "C": "c/other.tif", "D": "d/lung.tif"}


@dataclass
class ExportData:
    """What the fixture made, by the names of the module docstring."""

    project: Project
    other_project: Project
    labels: dict[str, Label]  # Tumour, Stroma, Necrosis, Nodule
    slides: dict[str, Slide]  # A, B, C, D
    tasks: dict[str, Task]  # outlines, review, nodules
    assignments: dict[str, Assignment]  # P, S, R1, R2, lung
    annotations: dict[str, Annotation]  # a1 … c2, m1, m2, nodule

    def ids(self, *names: str) -> list[int]:
        """The ids of the annotations ``names``, in id order."""
        return sorted(self.annotations[name].pk for name in names)


@pytest.fixture
def other_project(db):
    project = Project.objects.create(name="Lung nodules")
    Label.objects.create(project=project, name="Nodule", colour="#1f77b4")
    return project


@pytest.fixture
def people(project, other_project, admin_user, outsider):
    def person(name, *, role="", member=project, **extra):
        user = factories.user_create(name, role=role, **extra)
        if member is not None:
            member.members.add(user)
        return user

    return {
        "mlspecialist": person("mlspecialist", role=roles.ML_SPECIALIST),
        "ml-outsider": person("ml-outsider", role=roles.ML_SPECIALIST, member=other_project),
        "inactive-ml": person("inactive-ml", role=roles.ML_SPECIALIST, is_active=False),
        "manager": person("manager", role=roles.PROJECT_MANAGER, is_staff=True),
        "other-manager": person(
            "other-manager", role=roles.PROJECT_MANAGER, is_staff=True, member=other_project
        ),
        "pathologist": person("pathologist", role=roles.ANNOTATOR),
        "second": person("second", role=roles.ANNOTATOR),
        "reviewer": person("reviewer", role=roles.REVIEWER),
        "second-reviewer": person("second-reviewer", role=roles.REVIEWER),
        "lung-annotator": person("lung-annotator", role=roles.ANNOTATOR, member=other_project),
        "outsider": outsider,
        "superuser": admin_user,
    }


@pytest.fixture
def export_slides(slides_root, db) -> dict[str, Slide]:
    made = {}
    for seed, (name, path) in enumerate(SLIDE_PATHS.items()):
        slide = factories.slide_create(slides_root, path, width=300, height=200, seed=seed)
        slide.width, slide.height, slide.mpp_x, slide.mpp_y = WIDTH, HEIGHT, MPP, MPP
        slide.save()
        made[name] = slide
    return made


def _item(assignment: Assignment, slide: Slide) -> AssignmentSlide:
    return AssignmentSlide.objects.select_related("assignment").get(
        assignment=assignment, slide=slide
    )


@pytest.fixture
def export_data(project, other_project, people, export_slides) -> ExportData:
    """The data of the module docstring."""
    admin, manager = people["superuser"], people["manager"]
    labels = {label.name: label for label in Label.objects.filter(project__in=[project])}
    labels["Nodule"] = other_project.labels.get()
    s = export_slides
    outlines, (p, sec) = factories.annotation_task_create(
        project=project,
        name="Tumour outlines",
        slides=[s["A"], s["B"], s["C"]],
        annotators=[people["pathologist"], people["second"]],
        actor=admin,
    )
    review = Task.objects.create(
        project=project, name="Outline review", kind=Task.Kind.REVIEW, reviewed_task=outlines
    )
    r1, r2 = (
        task_services.assignment_create(
            task=review, assignee=people[name], slides=[s["A"], s["B"]], actor=admin
        )
        for name in ("reviewer", "second-reviewer")
    )

    def draw(assignment, slide, label, geometry, kind="polygon"):
        return factories.annotation_draw(
            assignment=assignment,
            slide=s[slide],
            label=labels[label],
            geometry=geometry,
            kind=kind,
        )

    square = factories.square
    made = {
        "a1": draw(p, "A", "Tumour", square(100, 100)),
        "a2": draw(p, "A", "Stroma", square(400, 400)),
        "a3": draw(p, "A", "Tumour", square(700, 700)),
        "a4": draw(sec, "A", "Tumour", square(1000, 1000)),
        "a5": draw(sec, "A", "Necrosis", square(1300, 1300)),
        "a6": draw(p, "A", "Tumour", square(1600, 1600)),
        "m1": draw(r1, "A", "Necrosis", factories.rectangle(2000, 2000, 2300, 2200)),
        "b1": draw(p, "B", "Tumour", square(100, 100)),
        "b2": draw(sec, "B", "Stroma", square(500, 500)),
        "b3": draw(
            p,
            "B",
            "Necrosis",
            {"type": "LineString", "coordinates": [[100, 2000], [500, 2000]]},
            kind="line",
        ),
        "m2": draw(r2, "B", "Stroma", square(3000, 3000)),
        "c1": draw(p, "C", "Tumour", square(100, 100)),
        "c2": draw(sec, "C", "Stroma", square(300, 300)),
    }
    annotation_services.annotation_delete(annotation=made["a6"], actor=people["pathologist"])

    def verdict(review_assignment, name, kind, **extra):
        review_services.verdict_set(
            review_assignment=review_assignment,
            annotation=made[name],
            reviewer=review_assignment.assignee,
            kind=kind,
            **extra,
        )

    verdict(r1, "a1", "agree")
    verdict(r2, "a1", "agree")
    verdict(r1, "a2", "wrong_label", label=labels["Tumour"])
    verdict(r2, "a2", "agree")
    verdict(r1, "a3", "agree")
    verdict(r1, "a3", "reject")  # replaces the agree
    verdict(r1, "a4", "wrong_region", geometry=factories.rectangle(1000, 1000, 1200, 1100))
    verdict(r2, "a4", "agree")
    verdict(r2, "a5", "agree")
    review_services.verdict_withdraw(
        review_assignment=r2, annotation=made["a5"], reviewer=r2.assignee
    )
    verdict(r2, "b1", "wrong_label", label=labels["Necrosis"])
    verdict(r1, "b2", "agree")
    verdict(r2, "b2", "reject")

    task_services.work_done(item=_item(p, s["A"]))
    task_services.work_done(item=_item(p, s["B"]))
    task_services.work_done(item=_item(sec, s["A"]))
    task_services.assignment_close(assignment=Assignment.objects.get(pk=sec.pk), actor=manager)
    review_services.slide_mark_reviewed(item=_item(r1, s["A"]), actor=r1.assignee)

    nodules, (lung,) = factories.annotation_task_create(
        project=other_project,
        name="Nodules",
        slides=[s["D"]],
        annotators=[people["lung-annotator"]],
        actor=admin,
    )
    made["nodule"] = draw(lung, "D", "Nodule", square(100, 100))
    return ExportData(
        project=project,
        other_project=other_project,
        labels=labels,
        slides=s,
        tasks={"outlines": outlines, "review": review, "nodules": nodules},
        assignments={"P": p, "S": sec, "R1": r1, "R2": r2, "lung": lung},
        annotations={name: Annotation.objects.get(pk=a.pk) for name, a in made.items()},
    )
