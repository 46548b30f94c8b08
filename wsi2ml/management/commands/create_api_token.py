from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from wsi2ml import tokens

# Ten years, as the profile page's latest date: leave --expires-days out for a token that lasts.
MAX_DAYS = 3650


class Command(BaseCommand):
    help = (
        "Make a personal API token for USERNAME and print it, and nothing else, on standard "
        "output (the token is stored hashed: this is the only time it is shown). It reads the "
        "API as that user: send it as 'Authorization: Bearer <token>'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--name", default="Made with create_api_token", help="What the token is for."
        )
        parser.add_argument(
            "--expires-days",
            type=int,
            default=None,
            metavar="D",
            help=f"Expire the token in D days, 1 to {MAX_DAYS} (default: never).",
        )

    def handle(self, *args, **options) -> None:
        username = options["username"]
        users = get_user_model().objects
        user = users.filter(**{users.model.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"No user named “{username}”.")
        if not user.is_active:
            raise CommandError(f"The user “{username}” is deactivated: a token would not work.")
        days = options["expires_days"]
        if days is not None and not 1 <= days <= MAX_DAYS:
            message = f"--expires-days must be between 1 and {MAX_DAYS}; leave it out for never."
            raise CommandError(message)
        expires_at = None if days is None else timezone.now() + timedelta(days=days)
        try:
            _, secret = tokens.api_token_create(
                user=user, name=options["name"], expires_at=expires_at
            )
        except tokens.ApiTokenRefused as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(secret)
