import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from slides.files import SLIDE_SUFFIXES
from slides.services import DemoLogin, demo_users_ensure, slides_grant_view, slides_scan

DEMO_SLIDE = Path("demo") / "synthetic-tissue.tiff"
SITE_URL = "http://127.0.0.1:8000/"


def holds_slide_files(root: Path) -> bool:
    """Tell whether any file under ``root`` (hidden folders aside) looks like a slide."""
    for _folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        if any(Path(name).suffix.lower() in SLIDE_SUFFIXES for name in files):
            return True
    return False


class Command(BaseCommand):
    help = (
        "Prepare a demonstration, as often as you like: draw a demo slide when SLIDES_ROOT holds "
        "none, scan SLIDES_ROOT, create the accounts 'admin' and 'pathologist' and let the "
        "pathologist see every slide. Passwords come from DEMO_PASSWORD, or are made up once."
    )

    def handle(self, *args, **options) -> None:
        root = Path(settings.SLIDES_ROOT)
        root.mkdir(parents=True, exist_ok=True)
        if not holds_slide_files(root):
            self._draw_demo_slide(root / DEMO_SLIDE)
        report = slides_scan()
        self.stdout.write(report.summary())
        for line in report.problems():
            self.stdout.write(self.style.WARNING(line))
        logins = demo_users_ensure(password=settings.DEMO_PASSWORD)
        pathologist = next(login.user for login in logins if login.username == "pathologist")
        granted = slides_grant_view(user=pathologist)
        self.stdout.write(f"'pathologist' may see every slide ({granted} newly granted).")
        self._print_logins(logins)

    def _draw_demo_slide(self, path: Path) -> None:
        try:
            from slides.demo import write_demo_slide
        except ImportError as exc:
            raise CommandError(
                f"Drawing the demo slide needs numpy and tifffile ({exc}). Install them "
                f"(pip install tifffile), or put any slide file in {path.parent.parent}."
            ) from exc
        self.stdout.write(f"SLIDES_ROOT holds no slide: drawing a demo slide at {path} ...")
        write_demo_slide(path)

    def _print_logins(self, logins: list[DemoLogin]) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Demo ready: start the server and open {SITE_URL}"))
        for login in logins:
            if login.password is None:
                password = "unchanged (set DEMO_PASSWORD and run again to reset it)"
            else:
                password = login.password
            self.stdout.write(
                f"  {login.role:<14} username: {login.username:<12} password: {password}"
            )
        self.stdout.write(f"  The administrator also has the admin site: {SITE_URL}admin/")
