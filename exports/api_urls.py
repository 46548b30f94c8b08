"""The exports API, under /api/exports/ (wsi2ml.urls); see exports.api_views."""

from django.urls import path

from exports import api_views

app_name = "exports_api"

urlpatterns = [
    path("projects/<id:project_id>.zip", api_views.project_zip, name="project_zip"),
    path("projects/<id:project_id>/preview", api_views.project_preview, name="project_preview"),
    path("projects/<id:project_id>/history", api_views.project_history, name="project_history"),
]
