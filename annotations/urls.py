from django.urls import path

from annotations import views

app_name = "annotations"
urlpatterns = [
    path("slides/<id:slide_id>/annotations", views.slide_annotations, name="slide_annotations"),
    path("slides/<id:slide_id>/annotations/stats", views.slide_stats, name="slide_stats"),
    path("annotations/<id:annotation_id>", views.annotation, name="annotation"),
    path(
        "annotations/<id:annotation_id>/restore",
        views.annotation_restore,
        name="annotation_restore",
    ),
    path(
        "annotations/<id:annotation_id>/history",
        views.annotation_history,
        name="annotation_history",
    ),
]
