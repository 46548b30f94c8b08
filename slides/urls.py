from django.urls import path

from slides import views

# The "id" and "index" converters (slides.converters) are registered in wsi2ml.urls.

app_name = "slides"
urlpatterns = [
    path("", views.slide_list, name="list"),
    path("<id:slide_id>/", views.viewer, name="viewer"),
    path("<id:slide_id>.dzi", views.dzi, name="dzi"),
    path(
        "<id:slide_id>_files/<index:level>/<index:col>_<index:row>.jpeg",
        views.tile,
        name="tile",
    ),
    path("<id:slide_id>/thumbnail.jpeg", views.thumbnail, name="thumbnail"),
    path("<id:slide_id>/associated/<str:name>.jpeg", views.associated, name="associated"),
]
