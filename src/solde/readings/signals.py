from django.dispatch import Signal

# Sent after an ingestion batch committed accepted readings: supply_point_ids.
# The daily close listens to charge late days at once (catch-up).
readings_accepted = Signal()
