"""The phone line's HTTP endpoint for an IVR: GET /phoneline/?reference=…[&caller=…]
[&format=vxml][&lang=fr]. Plain text to read out by default, or a minimal VoiceXML document."""

from __future__ import annotations

from xml.sax.saxutils import escape

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from solde.phoneline import rules, services

VOICE_LANG = {"fr": "fr-BE", "nl": "nl-BE", "de": "de-BE", "en": "en-GB"}


def _respond(request: HttpRequest, text: str, language: str, status: int) -> HttpResponse:
    wants_xml = request.GET.get("format") == "vxml" or "voicexml" in request.headers.get(
        "Accept", ""
    )
    if wants_xml:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml" '
            f'xml:lang="{VOICE_LANG[language]}"><form><block><prompt>'
            f"{escape(text)}</prompt></block></form></vxml>\n"
        )
        response = HttpResponse(body, status=status, content_type="application/voicexml+xml")
    else:
        response = HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    response["Content-Language"] = language
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def balance(request: HttpRequest) -> HttpResponse:
    asked = request.GET.get("lang")
    caller = request.GET.get("caller") or request.META.get("REMOTE_ADDR", "unknown")
    try:
        summary = services.lookup(request.GET.get("reference", ""), caller)
    except services.TooManyAttempts:
        lang = rules.language_or_default(asked)
        return _respond(request, rules.say("too_many", lang), lang, 429)
    except services.ReferenceNotFound:
        lang = rules.language_or_default(asked)
        return _respond(request, rules.say("not_found", lang), lang, 404)
    lang = rules.language_or_default(asked or summary.language)
    return _respond(request, rules.speak(summary, lang), lang, 200)
