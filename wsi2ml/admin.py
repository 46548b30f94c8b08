"""Personal API tokens in the admin: to see who holds which, and to revoke them.

Nothing here adds or edits a token (their owners make them on their profile page, or an admin
runs ``manage.py create_api_token``), and no page shows a token's digest: only the prefix
its owner also sees.
"""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from slides.admin import short_datetime
from wsi2ml import tokens
from wsi2ml.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created", "expires", "last_used", "revoked"]
    list_filter = [("user", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    date_hierarchy = "created_at"
    fields = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Revoked rows stay, as the record of which tokens existed and when they stopped.
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("wsi2ml.change_apitoken")

    @admin.action(description="Revoke selected API tokens", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(tokens.api_token_revoke(token=token, by=request.user) for token in queryset)
        self.message_user(request, f"Revoked {revoked} API token(s).")

    @admin.display(description="created", ordering="created_at")
    def created(self, token: ApiToken) -> str:
        return short_datetime(token.created_at)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, token: ApiToken) -> str:
        return short_datetime(token.expires_at) if token.expires_at else "never"

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, token: ApiToken) -> str:
        return short_datetime(token.last_used_at)

    @admin.display(description="revoked", ordering="revoked_at")
    def revoked(self, token: ApiToken) -> str:
        return short_datetime(token.revoked_at)
