from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from slides.services import ScanFolderInvalid, ScanReport, slides_scan

MISSING_SHOWN = 50  # a whole unmounted archive would otherwise flood the terminal


class Command(BaseCommand):
    help = (
        "Register the slide files under SLIDES_ROOT, or under one of its folders: new and "
        "changed files are read, moved files keep their identity, vanished ones become missing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "folder",
            nargs="?",
            default="",
            help="A folder inside SLIDES_ROOT, relative to it or absolute (default: all of it).",
        )

    def handle(self, *args, folder: str, verbosity: int, **options) -> None:
        def progress(files):
            # disable=None: no bar when stderr is not a terminal (cron, CI, call_command).
            disabled = None if verbosity > 0 else True
            return tqdm(files, desc="Scanning", unit="file", disable=disabled)

        try:
            report = slides_scan(folder=folder, progress=progress)
        except ScanFolderInvalid as exc:
            raise CommandError(str(exc)) from exc
        self._print(report)

    def _print(self, report: ScanReport) -> None:
        self.stdout.write(report.summary())
        for old, new in report.moved:
            self.stdout.write(f"Moved {old} -> {new}")
        for line in report.problems():
            self.stdout.write(self.style.WARNING(line))
        for path in report.missing[:MISSING_SHOWN]:
            self.stdout.write(self.style.WARNING(f"Missing {path}"))
        if len(report.missing) > MISSING_SHOWN:
            hidden = len(report.missing) - MISSING_SHOWN
            self.stdout.write(self.style.WARNING(f"... and {hidden} more missing."))
