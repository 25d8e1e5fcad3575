"""Hooks between apps, sent inside the service's transaction. Listeners connect in
AppConfig.ready() and must not commit."""

from django.dispatch import Signal

# After balances moved (top-up, adjustment, activation, close): account_ids, reason.
# Credit control listens: reconnection at once, display after a top-up in emergency. (The
# close hands its accounts to credit control as durable work instead: solde.work.)
balance_changed = Signal()

# After pending accounts became active: account_ids. The portal issues activation codes.
account_activated = Signal()
