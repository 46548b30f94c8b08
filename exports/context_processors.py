"""What the exports app adds to pages it does not render itself.

The navigation bar (templates/base.html) shows an "Exports" link with ``show_exports``; the
status page belongs to the tasks app, which must not import exports (dependencies run
tasks <- … <- exports): its template includes exports/home_projects.html with
``export_projects``, so that an ML specialist, who has nothing delegated, finds their projects.
"""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from exports import selectors
from exports.permissions import exportable_projects

STATUS_PAGE = "home"


def exports_links(request: HttpRequest) -> dict:
    """``show_exports`` on every page, and ``export_projects`` on the status page.

    Lazy: nothing is read unless the template uses it. A page rendered before authentication
    (a request refused by an earlier middleware) has no user and gets nothing.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    links = {"show_exports": SimpleLazyObject(lambda: exportable_projects(user).exists())}
    match = request.resolver_match
    if match is not None and match.view_name == STATUS_PAGE:
        links["export_projects"] = SimpleLazyObject(
            lambda: selectors.exportable_projects_summary(user)
        )
    return links
