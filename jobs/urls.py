from django.urls import path

from jobs import views

app_name = "jobs"
urlpatterns = [
    path("<id:job_id>/", views.job_page, name="job"),
]
