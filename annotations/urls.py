from django.urls import path

from annotations import api_views, views

app_name = "annotations"
urlpatterns = [
    path("work/<id:assignment_id>/slides/<id:slide_id>/", views.work, name="work"),
    path(
        "api/slides/<id:slide_id>/annotations",
        api_views.slide_annotations,
        name="slide_annotations",
    ),
    path("api/slides/<id:slide_id>/annotations/stats", api_views.slide_stats, name="slide_stats"),
    path("api/annotations/<id:annotation_id>", api_views.annotation, name="annotation"),
    path(
        "api/annotations/<id:annotation_id>/restore",
        api_views.annotation_restore,
        name="annotation_restore",
    ),
    path(
        "api/annotations/<id:annotation_id>/history",
        api_views.annotation_history,
        name="annotation_history",
    ),
]
