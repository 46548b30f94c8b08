from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from slides.services import slides_scan
from wsi2ml import demo


class Command(BaseCommand):
    help = (
        "Prepare a demonstration, as often as you like: draw demo slides when SLIDES_ROOT holds "
        "none, scan SLIDES_ROOT, create an account in every role, a project with labels and a "
        "task delegating the slides to three pathologists with overlap 2, and annotations by two "
        "of them. Passwords come from DEMO_PASSWORD, or are made up once."
    )

    def handle(self, *args, **options) -> None:
        root = Path(settings.SLIDES_ROOT)
        root.mkdir(parents=True, exist_ok=True)
        if not demo.holds_slide_files(root):
            self.stdout.write(f"SLIDES_ROOT holds no slide: drawing demo slides in {root} ...")
            demo.demo_slides_draw(root=root)
        report = slides_scan()
        self.stdout.write(report.summary())
        for line in report.problems():
            self.stdout.write(self.style.WARNING(line))
        logins = demo.demo_users_ensure(password=settings.DEMO_PASSWORD)
        project = demo.demo_project_ensure()
        admin = next(login.user for login in logins if login.username == "admin")
        task = demo.demo_task_ensure(project=project, actor=admin)
        if task is not None:
            self.stdout.write(f"Project “{project}”, task “{task.name}”.")
            created = demo.demo_annotations_ensure(task=task)
            self.stdout.write(f"Demo annotations: {created} created.")
            review = demo.demo_review_ensure(task=task, actor=admin)
            if review is not None:
                verdicts = demo.demo_verdicts_ensure(review=review)
                self.stdout.write(f"Review task “{review.name}”: {verdicts} verdicts.")
        self._print_logins(logins)

    def _print_logins(self, logins: list[demo.DemoLogin]) -> None:
        # scripts/demo.sh shows the lines from this one on, once its server answers.
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Demo ready. Log-ins:"))
        for login in logins:
            if login.password is None:
                password = "unchanged (set DEMO_PASSWORD and run again to reset it)"
            else:
                password = login.password
            self.stdout.write(
                f"  {login.role:<16} username: {login.username:<13} password: {password}"
            )
        self.stdout.write("  Administrators and managers also have the admin site, under /admin/.")
