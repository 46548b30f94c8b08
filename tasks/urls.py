from django.urls import path

from tasks import views

WORK = "work/<id:assignment_id>/slides/<id:slide_id>/"

app_name = "tasks"
urlpatterns = [
    path("work/continue/", views.continue_work, name="continue"),
    path("work/slides/", views.my_slides, name="my_slides"),
    path(f"{WORK}done", views.done, name="done"),
    path(f"{WORK}reopen", views.reopen, name="reopen"),
    path(f"{WORK}heartbeat", views.heartbeat, name="heartbeat"),
    path("projects/", views.project_list, name="project_list"),
    path("projects/<id:project_id>/", views.project_overview, name="project_overview"),
]
