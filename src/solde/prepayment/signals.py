from django.dispatch import Signal

# Sent inside the service's transaction after balances moved: account_ids, reason.
# Credit control listens (reconnection, interruption decisions); add listeners in AppConfig.ready.
balance_changed = Signal()
