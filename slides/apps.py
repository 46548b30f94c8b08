from django.apps import AppConfig


class SlidesConfig(AppConfig):
    verbose_name = "Slide registry"
    name = "slides"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_delete, pre_save

        from slides import grants

        # Tile grants are checked without the database; these say when they must stop at once.
        user = get_user_model()
        user_logged_out.connect(grants.revoke_on_log_out, dispatch_uid="slides.grants.log_out")
        pre_save.connect(
            grants.revoke_on_password_or_deactivation,
            sender=user,
            dispatch_uid="slides.grants.password",
        )
        post_delete.connect(
            grants.revoke_on_user_delete, sender=user, dispatch_uid="slides.grants.delete"
        )
