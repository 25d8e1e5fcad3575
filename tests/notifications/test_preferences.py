"""Contact preferences and extra recipients: what the portal calls. Bad input → a clear
sentence per field, nothing written."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from solde.notifications import services
from solde.notifications.models import ContactPreference, ExtraRecipient


def errors(exc: pytest.ExceptionInfo) -> dict[str, list[str]]:
    return exc.value.message_dict


def test_preferences_saved_and_read_back(customer_sp):
    c = customer_sp().customer
    ContactPreference.objects.filter(customer=c).delete()
    assert services.contact_preferences(c).email is True  # default for a customer with e-mail
    services.set_contact_preferences(
        c, email=True, sms=True, letter=False, muted_kinds=["topup_received", "advance_repaid"]
    )
    pref = services.contact_preferences(c)
    assert (pref.email, pref.sms, pref.letter) == (True, True, False)
    assert pref.muted_kinds == ["advance_repaid", "topup_received"]


@pytest.mark.parametrize(
    "phone, field_error",
    [
        ("", "ajoutez d'abord votre numéro de GSM"),
        ("12", "n'est pas un numéro de téléphone valide"),
        ("04 222 33 44", "numéro fixe : il ne peut pas recevoir de SMS"),
    ],
)
def test_sms_without_a_usable_mobile_is_refused_and_nothing_written(
    customer_sp, phone, field_error
):
    sp = customer_sp()
    c = sp.customer
    ContactPreference.objects.filter(customer=c).delete()
    c.phone = phone
    c.save()
    with pytest.raises(ValidationError) as exc:
        services.set_contact_preferences(c, email=True, sms=True, letter=False)
    assert field_error in errors(exc)["sms"][0]
    assert not ContactPreference.objects.filter(customer=c).exists()


def test_no_channel_or_mandatory_alert_muted_is_refused(customer_sp):
    c = customer_sp().customer
    with pytest.raises(ValidationError) as exc:
        services.set_contact_preferences(
            c, email=False, sms=False, letter=False, muted_kinds=["supply_interrupted", "bogus"]
        )
    e = errors(exc)
    assert "Choisissez au moins un moyen" in e["__all__"][0]
    assert "Type d'alerte inconnu : bogus." in e["muted_kinds"][0]
    with pytest.raises(ValidationError) as exc:
        services.set_contact_preferences(
            c, email=True, sms=False, letter=False, muted_kinds=["supply_interrupted"]
        )
    assert "ne peuvent pas être désactivés" in errors(exc)["muted_kinds"][0]
    assert "Fourniture interrompue" in errors(exc)["muted_kinds"][0]


def test_email_channel_needs_an_address(make_supply_point):
    c = make_supply_point(email="").customer
    with pytest.raises(ValidationError) as exc:
        services.set_contact_preferences(c, email=True, sms=False, letter=False)
    assert "ajoutez d'abord votre adresse e-mail" in errors(exc)["email"][0]


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("0470 12 34 56", "+32470123456"),
        ("0032 (0)470/12.34.56".replace("(0)", ""), "+32470123456"),
        ("+32 4 70 12 34 56", "+32470123456"),
        ("+33 6 12 34 56 78", "+33612345678"),
    ],
)
def test_recipient_phone_normalised_to_e164(customer_sp, typed, stored):
    c = customer_sp().customer
    r = services.add_recipient(c, name="Lea", phone=typed)
    assert (r.phone, r.by_sms, r.by_email) == (stored, True, False)


@pytest.mark.parametrize(
    "kwargs, field, text",
    [
        ({"name": "A", "email": "not-an-address"}, "email", "n'est pas une adresse e-mail valide"),
        ({"name": "A", "phone": "+32 470"}, "phone", "n'est pas un numéro de téléphone valide"),
        ({"name": "A", "phone": "0470 12 34 567"}, "phone", "Un numéro belge compte 10 chiffres"),
        ({"name": "A", "phone": "02 123 45 67"}, "phone", "ne peut pas recevoir de SMS"),
        ({"name": "", "email": "a@b.be"}, "name", "Indiquez le nom"),
        ({"name": "A", "by_sms": True}, "phone", "Indiquez le numéro de GSM de la personne"),
        ({"name": "A"}, "__all__", "Choisissez comment prévenir cette personne"),
        ({"name": "A", "email": "a@b.be", "language": "it"}, "language", "Choisissez la langue"),
    ],
)
def test_invalid_recipient_is_refused_with_a_clear_error_and_nothing_written(
    customer_sp, kwargs, field, text
):
    c = customer_sp().customer
    with pytest.raises(ValidationError) as exc:
        services.add_recipient(c, **kwargs)
    assert text in errors(exc)[field][0]
    assert ExtraRecipient.objects.count() == 0


def test_errors_are_in_the_active_language(customer_sp):
    c = customer_sp().customer
    with translation.override("nl"), pytest.raises(ValidationError) as exc:
        services.add_recipient(c, name="A", email="nope")
    assert errors(exc)["email"] == [
        "‘nope’ is geen geldig e-mailadres: controleer het (voorbeeld: voornaam.naam@voorbeeld.be)."
    ]


def test_duplicates_and_limit(customer_sp):
    c = customer_sp().customer
    services.add_recipient(c, name="A", email="a@example.be")
    with pytest.raises(ValidationError) as exc:
        services.add_recipient(c, name="A bis", email="A@EXAMPLE.be")
    assert "déjà dans vos destinataires" in errors(exc)["__all__"][0]
    for i in range(4):
        services.add_recipient(c, name=f"R{i}", email=f"r{i}@example.be")
    with pytest.raises(ValidationError) as exc:
        services.add_recipient(c, name="Six", email="six@example.be")
    assert "déjà 5 destinataires" in errors(exc)["__all__"][0]
    assert ExtraRecipient.objects.filter(customer=c).count() == 5


def test_remove_recipient_only_ones_own(customer_sp):
    mine, other = customer_sp().customer, customer_sp().customer
    r = services.add_recipient(mine, name="A", email="a@example.be")
    with pytest.raises(ExtraRecipient.DoesNotExist):
        services.remove_recipient(other, r.pk)
    assert ExtraRecipient.objects.filter(pk=r.pk).exists()
    services.remove_recipient(mine, r.pk)
    assert not ExtraRecipient.objects.filter(pk=r.pk).exists()
