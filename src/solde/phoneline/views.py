"""The phone line over HTTP.

- The telephony provider's voice webhook (Twilio, TwiML): POST /phoneline/voice/[?lang=fr]
  greets and gathers the 13 digits of the customer reference by keypad; the digits go to
  POST /phoneline/voice/balance/, which speaks the balance and remaining emergency credit in
  the customer's language. Every request must carry a valid X-Twilio-Signature; the caller is
  the provider's signed `From` field (never a query parameter).
- GET /phoneline/?reference=…[&caller=…][&format=vxml][&lang=fr] for an IVR of one's own:
  plain text or VoiceXML, only with an API key that has the `phoneline` scope; `caller` is the
  IVR's calling number, counted per key.

Both go through services.lookup: limits per caller, per reference and global, in the database;
an unknown, pending or closed reference all get the same sentence (404 on the IVR endpoint).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from twilio.twiml.voice_response import Gather, VoiceResponse

from solde.api.keys import find_key
from solde.api.models import Scope
from solde.phoneline import rules, services
from solde.twilio_webhooks import is_from_twilio

VOICE_LANG = {"fr": "fr-BE", "nl": "nl-BE", "de": "de-BE", "en": "en-GB"}
# <Say language=…> codes the provider's text-to-speech offers for each of our languages.
SAY_LANG = {"fr": "fr-BE", "nl": "nl-BE", "de": "de-DE", "en": "en-GB"}
REFERENCE_DIGITS = 13
GATHER_TIMEOUT_SECONDS = 10


# --- the provider's voice webhook (TwiML) ----------------------------------------------------


def _twiml(response: VoiceResponse) -> HttpResponse:
    out = HttpResponse(str(response), content_type="text/xml; charset=utf-8")
    out["Cache-Control"] = "no-store"
    return out


def _refused() -> HttpResponse:
    return HttpResponse("Invalid or missing X-Twilio-Signature.\n", status=403)


def _gather(lang: str, prompt: str) -> Gather:
    """Ask for the reference: 13 keys, then on to the balance step (absolute URL, signed as
    Twilio will request it)."""
    action = f"{settings.SITE_URL.rstrip('/')}{reverse('phoneline:voice-balance')}?lang={lang}"
    gather = Gather(
        input="dtmf",
        num_digits=REFERENCE_DIGITS,
        action=action,
        method="POST",
        timeout=GATHER_TIMEOUT_SECONDS,
    )
    gather.say(prompt, language=SAY_LANG[lang])
    return gather


@csrf_exempt  # signed by the provider instead
@require_POST
def voice(request: HttpRequest) -> HttpResponse:
    """A call starts: greet in the number's language (`lang` in the configured webhook URL)."""
    if not is_from_twilio(request):
        return _refused()
    lang = rules.language_or_default(request.GET.get("lang"))
    response = VoiceResponse()
    response.append(_gather(lang, rules.say("greeting", lang)))
    response.say(rules.say("no_input", lang), language=SAY_LANG[lang])
    response.hangup()
    return _twiml(response)


@csrf_exempt
@require_POST
def voice_balance(request: HttpRequest) -> HttpResponse:
    """The caller keyed their reference (Digits): say the balance and emergency credit, or ask
    again."""
    if not is_from_twilio(request):
        return _refused()
    lang = rules.language_or_default(request.GET.get("lang"))
    caller = request.POST.get("From") or "anonymous"
    response = VoiceResponse()
    try:
        summary = services.lookup(request.POST.get("Digits", ""), f"voice:{caller}")
    except services.TooManyAttempts:
        response.say(rules.say("too_many", lang), language=SAY_LANG[lang])
        response.hangup()
        return _twiml(response)
    except services.NoBalance:
        # Ask again (unknown, pending or closed alike); the limits end the call after too many.
        response.append(_gather(lang, rules.say("not_found", lang)))
        response.say(rules.say("no_input", lang), language=SAY_LANG[lang])
        response.hangup()
        return _twiml(response)
    spoken = rules.language_or_default(summary.language)
    response.say(rules.speak(summary, spoken), language=SAY_LANG[spoken])
    response.hangup()
    return _twiml(response)


# --- an IVR of one's own (API key) -----------------------------------------------------------


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
    auth = request.headers.get("Authorization", "")
    key = find_key(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None
    if key is None:
        response = HttpResponse("An API key is required (Authorization: Bearer …).\n", status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    if Scope.PHONELINE not in key.scopes:
        return HttpResponse("This API key does not have the 'phoneline' scope.\n", status=403)
    asked = request.GET.get("lang")
    # The IVR passes its caller's number; limits count per key and caller (and per reference
    # and globally, whatever the caller).
    caller = f"key:{key.prefix}:{request.GET.get('caller') or 'unknown'}"
    try:
        summary = services.lookup(request.GET.get("reference", ""), caller)
    except services.TooManyAttempts:
        lang = rules.language_or_default(asked)
        return _respond(request, rules.say("too_many", lang), lang, 429)
    except services.NoBalance:
        lang = rules.language_or_default(asked)
        return _respond(request, rules.say("not_found", lang), lang, 404)
    lang = rules.language_or_default(asked or summary.language)
    return _respond(request, rules.speak(summary, lang), lang, 200)
