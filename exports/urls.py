from django.urls import path

from exports import views

app_name = "exports"
urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<id:project_id>/", views.project, name="project"),
]
