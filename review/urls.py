from django.urls import path

from review import views

app_name = "review"
urlpatterns = [
    # Agreement pages
    path(
        "projects/<id:project_id>/agreement/",
        views.project_agreement_page,
        name="project_agreement",
    ),
    path(
        "projects/<id:project_id>/agreement/slides/<id:slide_id>/",
        views.slide_agreement_page,
        name="slide_agreement",
    ),
    # The reviewer's work page
    path("work/<id:assignment_id>/slides/<id:slide_id>/", views.work, name="work"),
]
