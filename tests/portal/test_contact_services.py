"""The alerts and contact pages against the notifications app's real contact services (the
adapter's refusals are also covered with a recording fake in test_alerts.py)."""

from __future__ import annotations

from html import unescape

from solde.notifications import services


def test_channels_recipients_and_history_for_real(logged, active_sp):
    from solde.notifications.models import ExtraRecipient

    url = f"/espace/ean/{active_sp.ean}/alertes/"
    r = logged.post(url, {"action": "channels", "channel-email": "on", "channel-sms": "on"})
    assert r.status_code == 302, unescape(r.content.decode())
    pref = services.contact_preferences(active_sp.customer)
    assert (pref.email, pref.sms, pref.letter) == (True, True, False)

    r = logged.post(
        url,
        {
            "action": "add_recipient",
            "recipient-name": "Assistante sociale",
            "recipient-email": "cpas@example.org",
            "recipient-phone": "",
        },
    )
    assert r.status_code == 302, unescape(r.content.decode())
    recipient = ExtraRecipient.objects.get(customer=active_sp.customer)
    assert "Assistante sociale" in unescape(logged.get(url).content.decode())

    r = logged.post(url, {"action": "remove_recipient", "recipient": str(recipient.pk)})
    assert r.status_code == 302
    assert not ExtraRecipient.objects.filter(customer=active_sp.customer).exists()

    page = logged.get(f"/espace/ean/{active_sp.ean}/alertes/historique/")
    assert page.status_code == 200


def test_sms_without_a_phone_is_refused_on_the_form(logged, active_sp):
    active_sp.customer.phone = ""
    active_sp.customer.save(update_fields=["phone"])
    r = logged.post("/espace/contact/", {"action": "channels", "channel-sms": "on"})
    assert r.status_code == 200
    assert "GSM" in unescape(r.content.decode())


def test_another_customers_recipient_cannot_be_removed(logged, active_sp, other_sp):
    from solde.notifications.models import ExtraRecipient

    theirs = services.add_recipient(other_sp.customer, name="X", email="x@example.org")
    r = logged.post("/espace/contact/", {"action": "remove_recipient", "recipient": theirs.pk})
    assert r.status_code == 404
    assert ExtraRecipient.objects.filter(pk=theirs.pk).exists()
