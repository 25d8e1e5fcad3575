"""The words of every customer message, per event kind (French reference, translated via .po).

Each kind has a subject, paragraphs for e-mail and letter (the last ones say what to do) and,
unless SMS is not allowed for it, a short SMS. Placeholders are filled by `render.context_for`.
Strings are marked with gettext_noop and translated at render time in the reader's language.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_noop


@dataclass(frozen=True)
class Text:
    label: str
    subject: str
    paragraphs: tuple[str, ...]
    sms: str = ""
    # Replaces paragraphs[1] when the payload says when it happens (`at`, an ISO instant).
    when_paragraph: str = ""


HOW_TO_TOP_UP = gettext_noop(
    "Pour recharger : en ligne sur %(site)s ; dans un point de vente ou à un terminal de "
    "paiement avec votre référence client %(reference)s ; ou par virement sur le compte "
    "%(iban)s avec la communication structurée %(ogm)s."
)

GREETING = gettext_noop("Bonjour %(name)s,")
ON_BEHALF = gettext_noop(
    "Vous recevez ce message parce que %(customer)s vous a ajouté(e) comme destinataire de "
    "ses alertes de prépaiement."
)
SIGNATURE = gettext_noop("Cordialement,")
FOOTER = gettext_noop(
    "EAN %(ean)s · référence client %(reference)s. Message automatique : merci de ne pas y "
    "répondre. Vos alertes se règlent dans votre espace personnel sur %(site)s."
)
SMS_ON_BEHALF = gettext_noop("Pour %(customer)s : %(text)s")

# French needs the article with the noun ("compteur d'électricité", "fourniture de gaz").
ENERGY_WORD = {"electricity": gettext_noop("d'électricité"), "gas": gettext_noop("de gaz")}
BUTTON = {
    "electricity": gettext_noop("le bouton vert de votre compteur"),
    "gas": gettext_noop("le bouton de la vanne de votre compteur de gaz"),
}

TEXTS: dict[str, Text] = {
    "activation_code_issued": Text(
        label=gettext_noop("Code d'activation"),
        subject=gettext_noop("Votre code d'activation pour le prépaiement"),
        paragraphs=(
            gettext_noop(
                "Votre compteur communicant %(energy)s (EAN %(ean)s, %(address)s) fonctionne "
                "désormais en prépaiement."
            ),
            gettext_noop(
                "Votre code d'activation est %(code)s. Il ne sert qu'une fois et reste valable "
                "jusqu'au %(expires)s."
            ),
            gettext_noop(
                "Pour créer votre espace personnel, allez sur %(site)s, choisissez « J'ai un "
                "code d'activation » et tapez ce code."
            ),
            HOW_TO_TOP_UP,
            gettext_noop(
                "Gardez ce message : votre référence client et votre communication structurée "
                "servent à chaque recharge."
            ),
        ),
    ),
    "prepayment_activated": Text(
        label=gettext_noop("Prépaiement activé"),
        subject=gettext_noop("Votre prépaiement est activé"),
        paragraphs=(
            gettext_noop("Le prépaiement de votre compteur %(energy)s (EAN %(ean)s) est activé."),
            gettext_noop(
                "Nous avons crédité une avance de démarrage de %(advance)s sur votre solde. "
                "Elle est reprise petit à petit, %(recovery)s par jour, à partir de demain."
            ),
            gettext_noop("Rechargez dès maintenant pour garder de l'avance."),
            HOW_TO_TOP_UP,
        ),
        sms=gettext_noop(
            "Prépaiement %(energy)s activé, avance de %(advance)s créditée. Rechargez sur "
            "%(site)s ou avec la référence %(reference)s."
        ),
    ),
    "topup_received": Text(
        label=gettext_noop("Recharge reçue"),
        subject=gettext_noop("Recharge de %(amount)s reçue"),
        paragraphs=(
            gettext_noop(
                "Nous avons bien reçu votre recharge de %(amount)s pour votre compteur "
                "%(energy)s (EAN %(ean)s)."
            ),
            gettext_noop("Votre solde est maintenant de %(balance)s."),
            gettext_noop("Vous n'avez rien d'autre à faire. Suivez votre solde sur %(site)s."),
        ),
        sms=gettext_noop(
            "Recharge de %(amount)s reçue pour votre compteur %(energy)s. Nouveau solde : "
            "%(balance)s."
        ),
    ),
    "low_credit": Text(
        label=gettext_noop("Solde bas"),
        subject=gettext_noop("Votre solde est bas : pensez à recharger"),
        paragraphs=(
            gettext_noop("Le solde de votre compteur %(energy)s (EAN %(ean)s) est de %(balance)s."),
            gettext_noop("Rechargez bientôt pour ne pas devoir utiliser votre crédit de secours."),
            HOW_TO_TOP_UP,
        ),
        sms=gettext_noop(
            "Solde bas : %(balance)s sur votre compteur %(energy)s. Rechargez sur %(site)s "
            "ou avec la référence %(reference)s."
        ),
    ),
    "emergency_credit_engaged": Text(
        label=gettext_noop("Crédit de secours"),
        subject=gettext_noop("Vous utilisez votre crédit de secours"),
        paragraphs=(
            gettext_noop(
                "Le solde de votre compteur %(energy)s (EAN %(ean)s) est passé sous zéro : "
                "%(balance)s. Le crédit de secours a pris le relais ; il vous en reste "
                "%(emergency)s."
            ),
            gettext_noop(
                "Rechargez au plus vite : quand le crédit de secours est épuisé, la fourniture "
                "peut être interrompue (du lundi au vendredi, entre 8 h et 16 h)."
            ),
            HOW_TO_TOP_UP,
        ),
        sms=gettext_noop(
            "Crédit de secours en cours sur votre compteur %(energy)s : solde %(balance)s, "
            "reste %(emergency)s. Rechargez vite sur %(site)s, référence %(reference)s."
        ),
    ),
    "interruption_coming": Text(
        label=gettext_noop("Interruption annoncée"),
        subject=gettext_noop("Votre fourniture va être interrompue : rechargez"),
        paragraphs=(
            gettext_noop(
                "Le crédit de secours de votre compteur %(energy)s (EAN %(ean)s) est épuisé : "
                "votre solde est de %(balance)s."
            ),
            gettext_noop(
                "Sans recharge, la fourniture sera interrompue pendant la prochaine plage "
                "permise (du lundi au vendredi, entre 8 h et 16 h, hors jours fériés)."
            ),
            gettext_noop("Pour l'éviter, rechargez au moins %(need)s."),
            HOW_TO_TOP_UP,
        ),
        when_paragraph=gettext_noop(
            "Sans recharge, la fourniture sera interrompue à partir du %(when)s (les "
            "interruptions n'ont lieu que du lundi au vendredi, entre 8 h et 16 h, hors jours "
            "fériés)."
        ),
        sms=gettext_noop(
            "Crédit de secours épuisé sur votre compteur %(energy)s, solde %(balance)s. "
            "Rechargez au moins %(need)s pour éviter l'interruption : %(site)s, référence "
            "%(reference)s."
        ),
    ),
    "supply_interrupted": Text(
        label=gettext_noop("Fourniture interrompue"),
        subject=gettext_noop("Votre fourniture est interrompue"),
        paragraphs=(
            gettext_noop(
                "Votre crédit de secours étant épuisé, la fourniture %(energy)s (EAN %(ean)s) "
                "est interrompue. Votre solde est de %(balance)s."
            ),
            gettext_noop(
                "Pour la rétablir, rechargez au moins %(need)s. Dès que votre solde redevient "
                "positif, la reconnexion est préparée à distance, à toute heure ; vous "
                "appuierez ensuite sur %(button)s."
            ),
            HOW_TO_TOP_UP,
            gettext_noop(
                "Vous avez du mal à payer ? Le CPAS de votre commune peut vous aider et "
                "recharger pour vous."
            ),
        ),
        sms=gettext_noop(
            "Fourniture %(energy)s interrompue, solde %(balance)s. Rechargez au moins "
            "%(need)s (%(site)s, référence %(reference)s), puis appuyez sur %(button)s."
        ),
    ),
    "limiter_on": Text(
        label=gettext_noop("Puissance limitée"),
        subject=gettext_noop("Votre puissance électrique est limitée"),
        paragraphs=(
            gettext_noop(
                "Votre crédit de secours est épuisé. Comme client protégé, votre électricité "
                "(EAN %(ean)s) n'est pas coupée mais limitée à %(amps)s A. Votre solde est de "
                "%(balance)s."
            ),
            gettext_noop(
                "Avec cette puissance, n'allumez que peu d'appareils à la fois (éclairage, "
                "réfrigérateur)."
            ),
            gettext_noop("Pour retrouver toute la puissance, rechargez au moins %(need)s."),
            HOW_TO_TOP_UP,
        ),
        sms=gettext_noop(
            "Puissance limitée à %(amps)s A, solde %(balance)s. Rechargez au moins %(need)s "
            "sur %(site)s ou avec la référence %(reference)s."
        ),
    ),
    "reconnection_ready": Text(
        label=gettext_noop("Reconnexion prête"),
        subject=gettext_noop("Appuyez sur le bouton pour rétablir votre fourniture"),
        paragraphs=(
            gettext_noop(
                "Merci pour votre recharge. Le solde de votre compteur %(energy)s (EAN %(ean)s) "
                "est de %(balance)s et la reconnexion est prête."
            ),
            gettext_noop(
                "Pour rétablir la fourniture, éteignez d'abord les gros appareils, puis "
                "appuyez sur %(button)s."
            ),
        ),
        sms=gettext_noop(
            "Reconnexion prête sur votre compteur %(energy)s, solde %(balance)s : éteignez les "
            "gros appareils puis appuyez sur %(button)s."
        ),
    ),
    "advance_repaid": Text(
        label=gettext_noop("Avance remboursée"),
        subject=gettext_noop("Votre avance de démarrage est remboursée"),
        paragraphs=(
            gettext_noop(
                "L'avance de démarrage de %(advance)s de votre compteur %(energy)s "
                "(EAN %(ean)s) est entièrement remboursée : plus aucune retenue quotidienne."
            ),
            gettext_noop(
                "Votre solde est de %(balance)s. Continuez à recharger régulièrement sur %(site)s."
            ),
        ),
        sms=gettext_noop(
            "Avance de démarrage remboursée sur votre compteur %(energy)s. Solde : %(balance)s."
        ),
    ),
}
