from django.contrib import admin
from django.urls import include, path, re_path, register_converter

from slides.converters import IdConverter, TileIndexConverter
from tasks.views import home
from wsi2ml import auth, views

register_converter(IdConverter, "id")
register_converter(TileIndexConverter, "index")

# The API answers JSON even when Django itself refuses a request or a view fails.
handler400 = views.bad_request
handler500 = views.server_error

admin.site.site_header = "WSI2ML administration"
admin.site.site_title = "WSI2ML admin"

urlpatterns = [
    path("", home, name="home"),
    path("", include("tasks.urls")),
    # Before Django's own: it says so when no e-mail can be sent, rather than pretending.
    path("accounts/password_reset/", auth.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/profile/", include("wsi2ml.account_urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("", include("annotations.urls")),
    path("", include("layers.urls")),
    path("api/review/", include("review.api_urls")),
    path("api/exports/", include("exports.api_urls")),
    path("api/jobs/", include("jobs.api_urls")),
    # Last of the API routes: what none of them matches is a JSON 404, not an HTML page.
    re_path(r"^api/", views.api_not_found),
    path("slides/", include("slides.urls")),
    path("review/", include("review.urls")),
    path("exports/", include("exports.urls")),
    path("jobs/", include("jobs.urls")),
    path("healthz", views.healthz, name="healthz"),
]
