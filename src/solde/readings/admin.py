"""Readings in the admin: read-only lists. Rejected rows are marked reviewed in the operator
console, which asks for a reason, audits the review and can undo it."""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from solde import clock
from solde.readings.models import Reading, RejectedReading
from solde.readings.rules import format_milli
from solde.registry.models import REGISTER_UNIT


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows (then shows CAP): a full count of the readings would read every
    partition."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP].count()  # type: ignore[union-attr,attr-defined]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Readings arrive through ingestion only: nothing is added, edited or deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Reading)
class ReadingAdmin(ReadOnlyAdmin):
    list_display = ("meter", "ean", "register", "local_at", "index")
    list_filter = ("register",)
    search_fields = ("=meter__serial", "=meter__supply_point__ean")
    search_help_text = _("Exact meter serial or EAN")
    list_select_related = ("meter__supply_point",)
    # The table holds billions of rows and its one index is (meter, register, at): the list
    # walks it backwards (a meter's newest readings first, register by register), counts at
    # most CAP rows, and links to no detail page (a lookup by id has no index to use; the
    # list shows every field).
    ordering = ("-meter", "-register", "-at")
    list_display_links = None
    show_full_result_count = False
    paginator = CappedCountPaginator

    @admin.display(description=_("EAN"))
    def ean(self, obj: Reading) -> str:
        return obj.meter.supply_point.ean

    @admin.display(description=_("Instant (local)"), ordering="at")
    def local_at(self, obj: Reading) -> str:
        return clock.local(obj.at).isoformat(sep=" ", timespec="minutes")

    @admin.display(description=_("Index"), ordering="value_milli")
    def index(self, obj: Reading) -> str:
        return f"{format_milli(obj.value_milli)} {REGISTER_UNIT.get(obj.register, '')}"


@admin.register(RejectedReading)
class RejectedReadingAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "reason",
        "ean",
        "meter",
        "register",
        "at",
        "value",
        "unit",
        "source",
        "row_index",
        "reviewed",
    )
    list_filter = ("reason", "reviewed", "received_at")
    search_fields = ("ean", "meter", "source", "detail")
    ordering = ("-received_at", "row_index")
    show_full_result_count = False
    # No bulk action here: the console's queue (reason, audit, undo) is the one place to review.
    change_list_template = "admin/readings/rejectedreading/change_list.html"
