from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from wsi2ml import views

admin.site.site_header = "WSI2ML administration"
admin.site.site_title = "WSI2ML admin"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="slides:list"), name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("slides/", include("slides.urls")),
    path("healthz", views.healthz, name="healthz"),
]
