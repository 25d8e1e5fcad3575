"""Webhooks of the SMS provider: Twilio's delivery status callbacks."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from solde.notifications import services
from solde.notifications.models import Message
from solde.twilio_webhooks import is_from_twilio


@csrf_exempt  # signed by Twilio instead (no browser, no session)
@require_POST
def sms_status(request: HttpRequest) -> HttpResponse:
    """POST ?message=<id> with MessageSid, MessageStatus[, ErrorCode]: record the delivery."""
    if not is_from_twilio(request):
        return HttpResponse("Invalid or missing X-Twilio-Signature.\n", status=403)
    message_id = request.GET.get("message", "")
    sid, status = request.POST.get("MessageSid", ""), request.POST.get("MessageStatus", "")
    if not (message_id.isdigit() and sid and status):
        return HttpResponse("Need ?message=<id>, MessageSid and MessageStatus.\n", status=400)
    try:
        services.record_delivery(int(message_id), sid, status, request.POST.get("ErrorCode", ""))
    except Message.DoesNotExist:
        return HttpResponse("No such SMS.\n", status=404)
    return HttpResponse(status=204)
