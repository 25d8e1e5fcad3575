"""The console's budget-meter page in a real browser (Debian chromium), checked by axe-core in
each of its states: a supervisor signs in with a password and an authenticator code, uploads
a 1,000-line file with ten bad lines, reads the dry run's ten refusals with their reasons,
imports by batches of 250, downloads a batch's letters, and the customers exist afterwards.
Also the rejected readings' queue: a back-office operator marks readings reviewed and undoes it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from solde import clock
from tests.budgetmeters.test_migration import BAD, make_file, ready  # noqa: F401
from tests.conftest import totp_code
from tests.e2e.axe import assert_no_axe_violations
from tests.e2e.test_console import PASSWORD, login, open_page, roles_ready, staff  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What the operator reads for each planted bad line (French, the console's language).
REASONS = {
    "bad_check_digit": "chiffre de contrôle",
    "unknown_ean": "n'est pas un EAN de RESA",
    "bad_amount": "illisible",
    "bad_date": "illisible",
    "duplicate_ean": "figure plusieurs fois dans le fichier (lignes 700, 1000)",
}


def login_with_second_factor(page, base: str, username: str, device) -> None:
    page.goto(base + "/console/migration/")
    assert "/console/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/console/2fa/" in page.url
    assert_no_axe_violations(page)
    page.fill("#id_code", totp_code(device))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == base + "/console/migration/"


def test_a_supervisor_checks_imports_by_batches_and_prints_the_letters(
    open_page,  # noqa: F811
    live_server,
    staff,  # noqa: F811
    ready,  # noqa: F811
    staff_2fa,
    totp_device,
    tmp_path_factory,
):
    from solde.backoffice.models import OperatorAction
    from solde.prepayment.models import PrepaymentAccount
    from solde.registry.models import SupplyPoint

    base = live_server.url
    supervisor = staff("sup1", "supervisor")
    device = totp_device(supervisor)
    data, rows = make_file()
    upload = tmp_path_factory.mktemp("upload") / "talexus-resa-vague1.csv"
    upload.write_bytes(data)

    page = open_page()
    page.set_default_timeout(240_000)  # the import of 990 lines runs in the request
    login_with_second_factor(page, base, "sup1", device)
    # Empty: the form, nothing checked yet.
    assert page.locator("h1").inner_text().startswith("Clients des compteurs à budget")
    assert_no_axe_violations(page)

    # The dry run: every line's outcome, the ten refusals first with their reasons.
    page.select_option("#id_dso", "RESA")
    page.set_input_files("#id_file", str(upload))
    page.fill("#id_batch_size", "250")
    page.fill("#id_reason", "Vague 1 de RESA : compteurs posés en novembre")
    with page.expect_navigation():
        page.get_by_role("button", name="Vérifier (simulation)").click()
    assert "Simulation : rien n'est écrit" in page.locator("#report-title").inner_text()
    assert "1000 lignes, dont 10 refusées" in page.locator("#report-summary").inner_text()
    refused = page.locator("#refused-lines tbody tr")
    assert refused.count() == 10
    by_line = {}
    for i in range(10):
        cells = refused.nth(i).locator("td").all_inner_texts()
        by_line[int(cells[0])] = cells[3]
    assert set(by_line) == set(BAD)
    for line, code in BAD.items():
        assert REASONS[code] in by_line[line], (line, by_line[line])
    assert rows[12]["ean"] in page.locator("#refused-lines").inner_text()
    assert page.locator("#report-lines tbody tr").count() == 1000
    assert page.locator("#report-lines").inner_text().count("sera importée") == 990
    assert not SupplyPoint.objects.exists()  # nothing written
    assert_no_axe_violations(page)

    # The import, by batches of 250 (the form keeps the DSO, batch size and reason; a file
    # input never keeps its file, so it is chosen again).
    page.set_input_files("#id_file", str(upload))
    with page.expect_navigation():
        page.get_by_role("button", name="Importer").click()
    assert "Import terminé" in page.locator("#report-title").inner_text()
    batches = page.locator("#report-batches a")
    assert batches.count() == 4
    assert "Lot 1 : 250 lignes" in batches.nth(0).inner_text()
    assert "Lot 4 : 240 lignes" in batches.nth(3).inner_text()
    assert page.locator("#report-lines").inner_text().count("importée") == 990
    assert_no_axe_violations(page)

    # One batch's letters, as the print room gets them.
    with page.expect_download() as download:
        batches.nth(1).click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and download.value.suggested_filename.endswith("-batch-002.pdf")
    assert len(set(_codes(pdf))) == 250

    # The customers exist, each with a pending prepayment account and an audited import.
    good = [r for line, r in rows.items() if line not in BAD]
    assert SupplyPoint.objects.count() == 990
    assert set(SupplyPoint.objects.values_list("ean", flat=True)) == {r["ean"] for r in good}
    assert PrepaymentAccount.objects.filter(state="pending").count() == 990
    sp = SupplyPoint.objects.select_related("customer").get(ean=rows[2]["ean"])
    assert sp.customer.last_name == rows[2]["last_name"]
    action = OperatorAction.objects.get(kind="budget_migration")
    assert action.user == supervisor and action.details["migrated"] == 990
    assert action.reason == "Vague 1 de RESA : compteurs posés en novembre"
    # …and the console finds them.
    page.goto(f"{base}/console/search/?q={sp.customer_reference}")
    assert rows[2]["last_name"] in page.locator("main").inner_text()
    assert page.errors == []


def _codes(pdf: bytes) -> list[bytes]:
    import re

    return re.findall(rb"PP[A-Z0-9]{8}", pdf)


def test_the_back_office_marks_rejected_readings_reviewed_and_undoes_it(
    open_page,  # noqa: F811
    live_server,
    staff,  # noqa: F811
):
    from solde.readings.models import RejectedReading

    base = live_server.url
    staff("bo1", "backoffice")
    now = clock.now()
    for i, reason in enumerate(["unknown_ean"] * 3 + ["implausible"] * 2):
        RejectedReading.objects.create(
            received_at=now - timedelta(minutes=i),
            source="file:resa-2026-11-29.csv",
            row_index=i + 2,
            ean=f"54144880000000{i:04d}",
            register="1.8.1",
            at="2026-11-29T10:00:00+01:00",
            value="1234.5",
            unit="kWh",
            reason=reason,
            detail=f"{reason} on row {i + 2}",
        )
    page = open_page()
    login(page, base, "bo1")
    page.get_by_role("link", name="Relevés refusés, par raison").click()
    assert_no_axe_violations(page)
    page.get_by_role("link", name="EAN inconnu").click()
    assert page.locator("#rejected-rows tbody tr").count() == 3
    assert_no_axe_violations(page)

    # Tick two with the keyboard, give the reason, mark them.
    boxes = page.locator("#rejected-rows input[type=checkbox]")
    for i in range(2):
        boxes.nth(i).focus()
        page.keyboard.press("Space")
    page.focus("#id_reason")
    page.keyboard.type("EAN mal recopiés par le fournisseur, corrigés")
    with page.expect_navigation():
        page.get_by_role("button", name="Marquer la sélection comme revue").click()
    assert "2 relevés marqués revus" in page.locator(".messages").inner_text()
    assert RejectedReading.objects.filter(reviewed=False).count() == 3
    assert_no_axe_violations(page)

    # Undo it from the list of recent reviews.
    page.get_by_role("link", name="Annuler la revue").click()
    assert_no_axe_violations(page)
    page.fill("#id_reason", "Mauvais fournisseur")
    with page.expect_navigation():
        page.get_by_role("button", name="Valider").click()
    assert "2 relevés sont de nouveau à revoir" in page.locator(".messages").inner_text()
    assert RejectedReading.objects.filter(reviewed=False).count() == 5
    page.goto(base + "/console/")
    assert "5" in page.get_by_role("link", name="Relevés refusés, par raison").inner_text()
    assert page.errors == []
