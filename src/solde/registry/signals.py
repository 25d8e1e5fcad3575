from django.dispatch import Signal

# Sent inside the transaction that created supply points: supply_point_ids (list of ids).
# The registry is the base app: the apps above it (prepayment opens the pending account)
# listen here rather than being imported by it.
supply_points_created = Signal()
