from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        # The Celery task that runs every job, and the worker's reaper (its signals and step).
        from jobs import worker  # noqa: F401

        # Each app registers the kinds of job it owns in its own jobs.py (slides.jobs,
        # review.jobs), found the way the admin finds admin.py: both the web process (who may
        # see a job, how its result reads) and the worker (what runs it) need every kind.
        autodiscover_modules("jobs")
