"""What the browser tests look for, per language, and where they put screenshots."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"
PASSWORD = "Prepaiement-2026!"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}

# The French reference texts the tests click and read; other languages come from the
# compiled catalogs at run time, so they follow whatever the merged translations say.
FRENCH = {
    "code_link": "J'ai un code d'activation",
    "activate": "Activer mon code",
    "create": "Créer mon compte",
    "confirmed": "Parfait, vos données sont confirmées !",
    "choose_pw": "Valider mon mot de passe",
    "ready": "Mon espace personnel",
    "login": "Se connecter",
    "welcome": "Bienvenue",
    "banner": "Prépaiement activé",
    "read": "Marquer comme lu",
    "balance_nav": "Mon solde",
    "refresh": "Actualiser les données",
    "normal": "Votre alimentation est normale.",
    "new_payment": "Nouveau paiement",
    "pay": "Payer",
    "paid": "Merci ! Votre paiement est reçu et votre solde est mis à jour.",
    "alerts_nav": "Mes alertes",
    "save_thresholds": "Enregistrer mes seuils",
    "saved": "Vos seuils d'alerte sont enregistrés.",
    "consumption_nav": "Consommation",
    "history_nav": "Historique",
    "topup_row": "Recharge",
    "cost": "Coût (€)",
    "add_recipient": "Ajouter ce destinataire",
    "recipient_added": "Le destinataire est ajouté.",
}


def texts(lang: str) -> dict[str, str]:
    """The page texts in `lang`, as the running translation catalogs render them."""
    from django.utils import translation

    with translation.override(lang):
        return {key: translation.gettext(text) for key, text in FRENCH.items()}
