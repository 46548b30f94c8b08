"""The jobs API, under /api/jobs/ (wsi2ml.urls); see jobs.api_views."""

from django.urls import path

from jobs import api_views

app_name = "jobs_api"
urlpatterns = [
    path("<id:job_id>", api_views.job, name="job"),
]
