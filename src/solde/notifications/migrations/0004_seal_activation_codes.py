"""Activation codes left in clear by earlier versions: in an event's payload ("code", before its
messages were rendered) or in an unsent message's body. Sealed under the hash key (solde.sealed)
on the event; bodies keep only the mask."""

import re

from django.db import migrations

MASK = "PP" + "•" * 8
CODE = re.compile(r"\bPP[23456789ABCDEFGHJKMNPQRSTVWXYZ]{8}\b")  # identifiers.ACTIVATION_ALPHABET


def seal_codes(apps, schema_editor):
    from solde import sealed

    Event = apps.get_model("notifications", "Event")
    Message = apps.get_model("notifications", "Message")
    events = Event.objects.filter(kind="activation_code_issued")
    for event in events.iterator(chunk_size=500):
        payload = dict(event.payload or {})
        code = payload.pop("code", "")
        if not code:
            for m in Message.objects.filter(event=event, secret_scrubbed=False):
                found = CODE.search(m.body)
                code = code or (found.group(0) if found else "")
        if code:
            payload["code_sealed"] = sealed.seal(code)
            event.payload = payload
            event.save(update_fields=["payload"])
        for m in Message.objects.filter(event=event):
            masked = CODE.sub(MASK, m.body)
            if masked != m.body:
                m.body = masked
                m.save(update_fields=["body"])


class Migration(migrations.Migration):
    dependencies = [("notifications", "0003_message_delivery")]

    operations = [migrations.RunPython(seal_codes, migrations.RunPython.noop)]
