"""Who may see which slide: staff see every slide, others need the guardian object permission."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import Http404

from slides.models import Slide

VIEW_SLIDE = "slides.view_slide"


def user_can_view_slide(user: AbstractBaseUser | AnonymousUser, slide: Slide) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    return user.is_staff or user.has_perm(VIEW_SLIDE, slide)


def get_slide_for_user(user: AbstractBaseUser | AnonymousUser, slide_id: int) -> Slide:
    """Return the slide, or raise Http404 when it does not exist or ``user`` may not see it."""
    slide = Slide.objects.filter(pk=slide_id).first()
    if slide is None or not user_can_view_slide(user, slide):
        raise Http404("No such slide.")
    return slide
