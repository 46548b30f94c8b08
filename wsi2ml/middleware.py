from django.contrib.auth import middleware


class LoginRequiredMiddleware(middleware.LoginRequiredMiddleware):
    """Django's LoginRequiredMiddleware, but views marked ``login_not_required`` are passed
    through before ``request.user`` is evaluated.

    Django's own version loads the session and the user first, two database queries per request;
    the tile view authorises most requests from a signed grant cookie and must not pay them.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not getattr(view_func, "login_required", True):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
