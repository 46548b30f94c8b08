from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


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
