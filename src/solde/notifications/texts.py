"""The words of every customer message, per event kind (French reference, translated via .po).

Each kind has a subject, paragraphs for e-mail and letter (the last ones say what to do) and,
unless SMS is not allowed for it, a short SMS. Placeholders are filled by `render.context_for`.
Strings are marked with gettext_noop and translated at render time in the reader's language.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_noop as N_


@dataclass(frozen=True)
class Text:
    label: str
    subject: str
    paragraphs: tuple[str, ...]
    sms: str = ""


HOW_TO_TOP_UP = N_(
    "Pour recharger : en ligne sur %(site)s ; dans un point de vente ou à un terminal de "
    "paiement avec votre référence client %(reference)s ; ou par virement sur le compte "
    "%(iban)s avec la communication structurée %(ogm)s."
)

GREETING = N_("Bonjour %(name)s,")
ON_BEHALF = N_(
    "Vous recevez ce message parce que %(customer)s vous a ajouté(e) comme destinataire de "
    "ses alertes de prépaiement."
)
SIGNATURE = N_("Cordialement,")
FOOTER = N_(
    "EAN %(ean)s · référence client %(reference)s. Message automatique : merci de ne pas y "
    "répondre. Vos alertes se règlent dans votre espace personnel sur %(site)s."
)
SMS_ON_BEHALF = N_("Pour %(customer)s : %(text)s")

ENERGY_WORD = {"electricity": N_("électricité"), "gas": N_("gaz")}
BUTTON = {
    "electricity": N_("le bouton vert de votre compteur"),
    "gas": N_("le bouton de la vanne de votre compteur de gaz"),
}

TEXTS: dict[str, Text] = {
    "activation_code_issued": Text(
        label=N_("Code d'activation"),
        subject=N_("Votre code d'activation pour le prépaiement"),
        paragraphs=(
            N_(
                "Votre compteur communicant %(energy)s (EAN %(ean)s, %(address)s) fonctionne "
                "désormais en prépaiement."
            ),
            N_(
                "Votre code d'activation est %(code)s. Il ne sert qu'une fois et reste valable "
                "jusqu'au %(expires)s."
            ),
            N_(
                "Pour créer votre espace personnel, allez sur %(site)s, choisissez « J'ai un "
                "code d'activation » et tapez ce code."
            ),
            HOW_TO_TOP_UP,
            N_(
                "Gardez ce message : votre référence client et votre communication structurée "
                "servent à chaque recharge."
            ),
        ),
    ),
    "prepayment_activated": Text(
        label=N_("Prépaiement activé"),
        subject=N_("Votre prépaiement est activé"),
        paragraphs=(
            N_("Le prépaiement de votre compteur %(energy)s (EAN %(ean)s) est activé."),
            N_(
                "Nous avons crédité une avance de démarrage de %(advance)s sur votre solde. "
                "Elle est reprise petit à petit, %(recovery)s par jour, à partir de demain."
            ),
            N_("Rechargez dès maintenant pour garder de l'avance."),
            HOW_TO_TOP_UP,
        ),
        sms=N_(
            "Prépaiement %(energy)s activé, avance de %(advance)s créditée. Rechargez sur "
            "%(site)s ou avec la référence %(reference)s."
        ),
    ),
    "topup_received": Text(
        label=N_("Recharge reçue"),
        subject=N_("Recharge de %(amount)s reçue"),
        paragraphs=(
            N_(
                "Nous avons bien reçu votre recharge de %(amount)s pour votre compteur "
                "%(energy)s (EAN %(ean)s)."
            ),
            N_("Votre solde est maintenant de %(balance)s."),
            N_("Vous n'avez rien d'autre à faire. Suivez votre solde sur %(site)s."),
        ),
        sms=N_(
            "Recharge de %(amount)s reçue pour votre compteur %(energy)s. Nouveau solde : "
            "%(balance)s."
        ),
    ),
    "low_credit": Text(
        label=N_("Solde bas"),
        subject=N_("Votre solde est bas : pensez à recharger"),
        paragraphs=(
            N_("Le solde de votre compteur %(energy)s (EAN %(ean)s) est de %(balance)s."),
            N_(
                "Rechargez bientôt pour ne pas devoir utiliser votre crédit de secours."
            ),
            HOW_TO_TOP_UP,
        ),
        sms=N_(
            "Solde bas : %(balance)s sur votre compteur %(energy)s. Rechargez sur %(site)s "
            "ou avec la référence %(reference)s."
        ),
    ),
    "emergency_credit_engaged": Text(
        label=N_("Crédit de secours"),
        subject=N_("Vous utilisez votre crédit de secours"),
        paragraphs=(
            N_(
                "Le solde de votre compteur %(energy)s (EAN %(ean)s) est passé sous zéro : "
                "%(balance)s. Le crédit de secours a pris le relais ; il vous en reste "
                "%(emergency)s."
            ),
            N_(
                "Rechargez au plus vite : quand le crédit de secours est épuisé, la fourniture "
                "peut être interrompue (du lundi au vendredi, entre 8 h et 16 h)."
            ),
            HOW_TO_TOP_UP,
        ),
        sms=N_(
            "Crédit de secours en cours sur votre compteur %(energy)s : solde %(balance)s, "
            "reste %(emergency)s. Rechargez vite sur %(site)s, référence %(reference)s."
        ),
    ),
    "interruption_coming": Text(
        label=N_("Interruption annoncée"),
        subject=N_("Votre fourniture va être interrompue : rechargez"),
        paragraphs=(
            N_(
                "Le crédit de secours de votre compteur %(energy)s (EAN %(ean)s) est épuisé : "
                "votre solde est de %(balance)s."
            ),
            N_(
                "Sans recharge, la fourniture sera interrompue pendant la prochaine plage "
                "permise (du lundi au vendredi, entre 8 h et 16 h, hors jours fériés)."
            ),
            N_("Pour l'éviter, rechargez au moins %(need)s."),
            HOW_TO_TOP_UP,
        ),
        sms=N_(
            "Crédit de secours épuisé (%(energy)s, solde %(balance)s). Rechargez au moins "
            "%(need)s pour éviter l'interruption : %(site)s, référence %(reference)s."
        ),
    ),
    "supply_interrupted": Text(
        label=N_("Fourniture interrompue"),
        subject=N_("Votre fourniture est interrompue"),
        paragraphs=(
            N_(
                "Votre crédit de secours étant épuisé, la fourniture %(energy)s (EAN %(ean)s) "
                "est interrompue. Votre solde est de %(balance)s."
            ),
            N_(
                "Pour la rétablir, rechargez au moins %(need)s. Dès que votre solde redevient "
                "positif, la reconnexion est préparée à distance, à toute heure ; vous "
                "appuierez ensuite sur %(button)s."
            ),
            HOW_TO_TOP_UP,
            N_(
                "Vous avez du mal à payer ? Le CPAS de votre commune peut vous aider et "
                "recharger pour vous."
            ),
        ),
        sms=N_(
            "Fourniture %(energy)s interrompue, solde %(balance)s. Rechargez au moins "
            "%(need)s (%(site)s, référence %(reference)s), puis appuyez sur %(button)s."
        ),
    ),
    "limiter_on": Text(
        label=N_("Puissance limitée"),
        subject=N_("Votre puissance électrique est limitée"),
        paragraphs=(
            N_(
                "Votre crédit de secours est épuisé. Comme client protégé, votre électricité "
                "(EAN %(ean)s) n'est pas coupée mais limitée à %(amps)s A. Votre solde est de "
                "%(balance)s."
            ),
            N_(
                "Avec cette puissance, n'allumez que peu d'appareils à la fois (éclairage, "
                "réfrigérateur)."
            ),
            N_("Pour retrouver toute la puissance, rechargez au moins %(need)s."),
            HOW_TO_TOP_UP,
        ),
        sms=N_(
            "Puissance limitée à %(amps)s A, solde %(balance)s. Rechargez au moins %(need)s "
            "sur %(site)s ou avec la référence %(reference)s."
        ),
    ),
    "reconnection_ready": Text(
        label=N_("Reconnexion prête"),
        subject=N_("Appuyez sur le bouton pour rétablir votre fourniture"),
        paragraphs=(
            N_(
                "Merci pour votre recharge. Le solde de votre compteur %(energy)s (EAN %(ean)s) "
                "est de %(balance)s et la reconnexion est prête."
            ),
            N_(
                "Pour rétablir la fourniture, éteignez d'abord les gros appareils, puis "
                "appuyez sur %(button)s."
            ),
        ),
        sms=N_(
            "Reconnexion prête (%(energy)s, solde %(balance)s) : éteignez les gros appareils "
            "puis appuyez sur %(button)s."
        ),
    ),
    "advance_repaid": Text(
        label=N_("Avance remboursée"),
        subject=N_("Votre avance de démarrage est remboursée"),
        paragraphs=(
            N_(
                "L'avance de démarrage de %(advance)s de votre compteur %(energy)s "
                "(EAN %(ean)s) est entièrement remboursée : plus aucune retenue quotidienne."
            ),
            N_(
                "Votre solde est de %(balance)s. Continuez à recharger régulièrement sur "
                "%(site)s."
            ),
        ),
        sms=N_(
            "Avance de démarrage remboursée sur votre compteur %(energy)s. Solde : "
            "%(balance)s."
        ),
    ),
}
