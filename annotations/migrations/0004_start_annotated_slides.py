"""Mark slides that already hold annotations as in progress (and their new assignments).

Annotations stored before annotation_create began calling tasks.services.work_start left their
slides "Not started" and their assignments "New" (the demo data did so on every slide).
"""

from django.db import migrations
from django.db.models import Exists, OuterRef
from django.utils import timezone


def start_annotated_slides(apps, schema_editor):
    Annotation = apps.get_model("annotations", "Annotation")
    AssignmentSlide = apps.get_model("tasks", "AssignmentSlide")
    Assignment = apps.get_model("tasks", "Assignment")
    annotated = Annotation.objects.filter(
        assignment_id=OuterRef("assignment_id"), slide_id=OuterRef("slide_id")
    )
    AssignmentSlide.objects.filter(state="not_started").filter(Exists(annotated)).update(
        state="in_progress"
    )
    started = AssignmentSlide.objects.filter(assignment_id=OuterRef("pk"), state="in_progress")
    now = timezone.now()
    Assignment.objects.filter(state="new").filter(Exists(started)).update(
        state="in_progress", started_at=now, updated_at=now
    )


class Migration(migrations.Migration):
    dependencies = [
        ("annotations", "0003_geometry_as_json"),
        ("tasks", "0003_assignmentslide_time_counted_at"),
    ]

    operations = [migrations.RunPython(start_annotated_slides, migrations.RunPython.noop)]
