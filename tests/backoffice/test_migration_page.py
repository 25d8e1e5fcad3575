"""The console's budget-meter upload: a supervisor checks the file, then imports it; the batch's
letters are downloadable; an agent cannot."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from solde.backoffice.models import OperatorAction
from solde.ledger.models import Transaction
from tests.budgetmeters.test_migration import make_file, ready  # noqa: F401


def upload(client, data: bytes, action: str, reason: str = "Vague 1 de RESA"):
    return client.post(
        "/console/migration/",
        {
            "dso": "RESA",
            "file": SimpleUploadedFile("wave1.csv", data, content_type="text/csv"),
            "reason": reason,
            "action": action,
        },
    )


def test_a_supervisor_checks_then_imports_and_downloads_the_letters(console, ready):  # noqa: F811
    data, _ = make_file(40)
    client = console("supervisor")
    r = upload(client, data, "check")
    page = r.content.decode()
    assert r.status_code == 200 and "Simulation" in page and "refusée" in page
    assert not Transaction.objects.filter(kind="carried_balance").exists()
    assert not OperatorAction.objects.filter(kind="budget_migration").exists()

    r = upload(client, data, "import")
    page = r.content.decode()
    assert r.status_code == 200 and "Import terminé" in page
    assert Transaction.objects.filter(kind="carried_balance").exists()
    action = OperatorAction.objects.get(kind="budget_migration")
    assert action.reason == "Vague 1 de RESA" and action.details["migrated"] > 0
    pdf = action.details["batches"][0].rsplit("/", 1)[-1]
    letters = client.get(f"/console/migration/letters/{pdf}")
    assert letters.status_code == 200 and b"".join(letters.streaming_content)[:4] == b"%PDF"
    assert client.get("/console/migration/letters/..%2F..%2Fsecret.pdf").status_code == 404


def test_an_agent_cannot_import_and_a_reason_is_mandatory(console, ready):  # noqa: F811
    data, _ = make_file(5)
    assert upload(console("agent"), data, "import").status_code == 403
    r = upload(console("supervisor"), data, "import", reason="")
    assert r.status_code == 200 and not Transaction.objects.filter(kind="carried_balance").exists()
