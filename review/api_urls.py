"""The review API, under /api/review/ (wsi2ml.urls); see review.api_views."""

from django.urls import path

from review import api_views

app_name = "review_api"

_SLIDE = "assignments/<id:review_assignment_id>/slides/<id:slide_id>/"
_VERDICT = "assignments/<id:review_assignment_id>/annotations/<id:annotation_id>/verdict"

urlpatterns = [
    path(f"{_SLIDE}items", api_views.items, name="items"),
    path(f"{_SLIDE}reviewed", api_views.slide_reviewed, name="slide_reviewed"),
    path(f"{_SLIDE}reopen", api_views.slide_reopen, name="slide_reopen"),
    path(f"{_SLIDE}send-back", api_views.send_back, name="send_back"),
    path(_VERDICT, api_views.verdict, name="verdict"),
    path(f"{_VERDICT}/history", api_views.verdict_history, name="verdict_history"),
    path("slides/<id:slide_id>/feedback", api_views.feedback, name="feedback"),
]
