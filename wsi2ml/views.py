from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.http import require_GET

from wsi2ml.api import is_api


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Report whether the database answers; for load balancers and container health checks."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means "not healthy", whatever its type
        return JsonResponse({"status": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


@login_not_required
def api_not_found(request: HttpRequest) -> JsonResponse:
    """Answer any /api/ URL that no API route matches in JSON, as the API's own errors are."""
    return JsonResponse({"error": f"No API endpoint at {request.path}."}, status=404)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: JSON under /api/ (a form body too large, a broken multipart body...).

    Elsewhere the product's 400.html, which Django renders without a request or context.
    """
    if is_api(request):
        return JsonResponse({"error": "The request is malformed or too large."}, status=400)
    return defaults.bad_request(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: JSON under /api/, as every other API answer; django.request logs the error.

    Elsewhere the product's 500.html, rendered without a request or context: whatever failed
    (the database, a context processor) is not needed to say so.
    """
    if is_api(request):
        return JsonResponse({"error": "Internal server error; it has been logged."}, status=500)
    return defaults.server_error(request)
