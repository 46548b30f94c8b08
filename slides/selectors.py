from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from guardian.shortcuts import get_objects_for_user

from slides.models import Slide, SlideQuerySet
from slides.permissions import VIEW_SLIDE


def slide_list_for_user(
    *, user: AbstractBaseUser, search: str = "", vendor: str = "", status: str = ""
) -> SlideQuerySet:
    """Slides ``user`` may see, filtered by a name search, a vendor and a status."""
    if user.is_staff:
        slides = Slide.objects.all()
    else:
        slides = get_objects_for_user(user, VIEW_SLIDE, klass=Slide, accept_global_perms=False)
    if search:
        slides = slides.filter(Q(name__icontains=search) | Q(path__icontains=search))
    if vendor:
        slides = slides.filter(vendor=vendor)
    if status:
        slides = slides.filter(status=status)
    return slides.order_by("name", "id")


def vendors_in(slides: SlideQuerySet) -> list[str]:
    return sorted(set(slides.exclude(vendor="").values_list("vendor", flat=True)))
