"""The delivery log for operators: every message, its status and errors; resend; letters."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.http import FileResponse, Http404
from django.urls import path, reverse
from django.utils.html import format_html

from solde.notifications import letters, services
from solde.notifications.models import ContactPreference, Event, ExtraRecipient, Message


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "kind",
        "channel",
        "recipient",
        "language",
        "status",
        "attempts",
        "sent_at",
        "delivery_status",
        "letter_link",
    )
    list_filter = ("status", "delivery_status", "channel", "event__kind", "language")
    search_fields = ("recipient", "customer__email")
    date_hierarchy = "created_at"
    list_select_related = ("event",)
    actions = ["resend_messages"]
    readonly_fields = [f.name for f in Message._meta.fields] + ["letter_link"]
    ordering = ("-created_at", "-pk")

    @admin.display(description="Event kind", ordering="event__kind")
    def kind(self, obj: Message) -> str:
        return obj.event.kind

    @admin.display(description="Letter")
    def letter_link(self, obj: Message) -> str:
        if not obj.letter_pdf:
            return "—"
        url = reverse("admin:notifications_message_letter", args=[obj.pk])
        return format_html('<a href="{}">PDF</a>', url)

    def get_search_results(self, request, queryset, search_term):
        # An EAN or a customer reference is an exact lookup through the event's supply point.
        qs, distinct = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            qs = qs | queryset.filter(services.search_filter(search_term))
        return qs, distinct

    def get_urls(self):
        return [
            path(
                "<int:pk>/letter.pdf",
                self.admin_site.admin_view(self.letter_view),
                name="notifications_message_letter",
            ),
            *super().get_urls(),
        ]

    def letter_view(self, request, pk: int):
        """Letters hold personal data (and activation codes): served to staff only, never
        from a public media URL."""
        if not self.has_view_permission(request):
            raise Http404
        msg = Message.objects.filter(pk=pk).exclude(letter_pdf="").first()
        if msg is None or not letters.letter_path(msg.letter_pdf).exists():
            raise Http404("No letter for this message.")
        return FileResponse(
            letters.letter_path(msg.letter_pdf).open("rb"),
            content_type="application/pdf",
            filename=f"letter-{msg.pk}.pdf",
        )

    @admin.action(description="Resend the selected messages")
    def resend_messages(self, request, queryset):
        queued, refused = services.resend(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{queued} message(s) queued to be sent again.")
        if refused:
            self.message_user(
                request,
                f"{refused} message(s) held an activation code that was erased after sending: "
                "issue a new activation code instead.",
                messages.WARNING,
            )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "kind", "supply_point", "key", "handled_at")
    list_filter = ("kind",)
    search_fields = ("key", "supply_point__ean")
    fields = ("kind", "key", "supply_point", "occurred_at", "details", "handled_at")
    readonly_fields = fields

    @admin.display(description="payload")
    def details(self, obj: Event) -> str:
        # The sealed activation code is ciphertext, but an operator has no use for it either.
        shown = {k: ("••••" if k == "code_sealed" else v) for k, v in (obj.payload or {}).items()}
        return json.dumps(shown, ensure_ascii=False, sort_keys=True)


@admin.register(ContactPreference)
class ContactPreferenceAdmin(admin.ModelAdmin):
    list_display = ("customer", "email", "sms", "letter", "updated_at")
    search_fields = ("customer__email", "customer__last_name")
    raw_id_fields = ("customer",)


@admin.register(ExtraRecipient)
class ExtraRecipientAdmin(admin.ModelAdmin):
    list_display = ("customer", "name", "email", "phone", "by_email", "by_sms")
    search_fields = ("customer__email", "name", "email", "phone")
    raw_id_fields = ("customer",)
