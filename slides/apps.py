from django.apps import AppConfig


class SlidesConfig(AppConfig):
    verbose_name = "Slide registry"
    name = "slides"
