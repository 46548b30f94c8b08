import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from review import agreement
from tasks.models import Project


class Command(BaseCommand):
    help = (
        "Compute the agreement between annotators of every slide that is not cached yet, so that "
        "the agreement pages and the project overview show every slide at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, help="only this project (its id)")

    def handle(self, *args, project=None, **options):
        projects = Project.objects.all()
        if project is not None:
            projects = projects.filter(pk=project)
            if not projects.exists():
                raise CommandError(f"No project {project}.")
        if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
            self.stderr.write(
                "The default cache is this process's memory: the results vanish when the command "
                "ends. Set CACHE_URL to the server's Redis to keep them."
            )
        for item in projects:
            started = time.monotonic()
            report = agreement.project_agreement(project=item, budget_seconds=float("inf"))
            self.stdout.write(report.summary(time.monotonic() - started))
            if report.too_large:
                self.stderr.write(
                    f"{item.name}: {report.too_large} slides have too many overlapping regions "
                    f"to compare (more than {agreement.MAX_CANDIDATE_PAIRS} pairs)."
                )
