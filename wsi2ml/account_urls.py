"""The user's own profile, under /accounts/profile/ (wsi2ml.urls)."""

from django.urls import path

from wsi2ml import account

urlpatterns = [
    path("", account.profile, name="profile"),
    path("tokens/<id:token_id>/revoke", account.token_revoke, name="profile_token_revoke"),
]
