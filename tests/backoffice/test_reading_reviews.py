"""Rejected readings marked reviewed from the console's queue: one, many or all of a filter, with
a reason, audited, undoable; the back office and supervisors may, the others may not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied

from solde import clock
from solde.backoffice import queues, services
from solde.backoffice.models import OperatorAction, ReadingReview
from solde.readings.models import RejectedReading

pytestmark = pytest.mark.django_db

QUEUE = "/console/queues/rejected-readings/"


def rejected(n: int, reason: str = "unknown_ean", ean: str = "541448800000000017", **kw):
    now = clock.now()
    return [
        RejectedReading.objects.create(
            received_at=now - timedelta(minutes=i),
            source=kw.get("source", "file:ores-2026-11-28.csv"),
            row_index=i + 2,
            ean=ean,
            meter=kw.get("meter", ""),
            register="1.8.1",
            at="2026-11-28T10:00:00+01:00",
            value="1234.5",
            unit="kWh",
            reason=reason,
            detail=kw.get("detail", f"{reason} on row {i + 2}"),
        )
        for i in range(n)
    ]


def waiting() -> int:
    return queues.BY_SLUG["rejected-readings"].size()


def test_marking_some_reviewed_is_audited_and_undone_exactly(operator):
    rows = rejected(5)
    bo = operator("backoffice")
    review = services.mark_readings_reviewed(
        bo, "Compteur remplacé, EAN corrigé chez le fournisseur", ids=[rows[0].pk, rows[1].pk]
    )
    assert review.count == 2 and waiting() == 3
    assert set(RejectedReading.objects.filter(reviewed=True).values_list("pk", flat=True)) == {
        rows[0].pk,
        rows[1].pk,
    }
    action = OperatorAction.objects.get(kind="readings_reviewed")
    assert action.user == bo and action.reason.startswith("Compteur remplacé")
    assert action.details == {"count": 2, "selection": 2, "review": review.pk}

    # Another review in between: undoing the first puts back its own rows only.
    other = services.mark_readings_reviewed(bo, "Doublon du fichier", ids=[rows[2].pk])
    restored = services.undo_reading_review(operator("supervisor"), review, "Revu trop vite")
    assert restored == 2 and waiting() == 4
    assert RejectedReading.objects.get(pk=rows[2].pk).reviewed
    undo = OperatorAction.objects.get(kind="readings_review_undone")
    assert undo.reason == "Revu trop vite" and undo.details["review"] == review.pk
    review.refresh_from_db()
    assert review.undone_by == undo
    with pytest.raises(services.ActionError, match="déjà été annulée"):
        services.undo_reading_review(bo, review, "encore")
    assert other.count == 1


def test_all_of_a_filter_marks_what_the_operator_saw(operator):
    future = rejected(3, "future", ean="541448800000000024")
    rejected(2, "future", ean="541448800000000031")
    rejected(4, "unknown_ean")
    seen = max(r.pk for r in future)
    late = rejected(1, "future", ean="541448800000000024")  # arrives after the page was shown
    where = services.RejectedFilter(reason="future", ean=" 5414488 00000000024", up_to=seen)
    review = services.mark_readings_reviewed(operator("backoffice"), "Horloge", where=where)
    assert review.count == 3 and waiting() == 7
    assert not RejectedReading.objects.get(pk=late[0].pk).reviewed
    assert review.scope == {
        "filter": {"reason": "future", "ean": " 5414488 00000000024", "up_to": seen}
    }
    # By meter serial and by source too.
    rejected(2, "unknown_meter", ean="", meter="SER-9", source="api:headend-ores")
    where = services.RejectedFilter(ean="SER-9", source="headend")
    assert services.mark_readings_reviewed(operator("supervisor"), "x", where=where).count == 2


def test_reviewed_rows_are_never_taken_twice_and_a_reason_is_mandatory(operator):
    rows = rejected(2)
    bo = operator("backoffice")
    with pytest.raises(services.ActionError, match="raison"):
        services.mark_readings_reviewed(bo, "  ", ids=[rows[0].pk])
    assert waiting() == 2 and not ReadingReview.objects.exists()
    services.mark_readings_reviewed(bo, "vu", ids=[rows[0].pk])
    with pytest.raises(services.ActionError, match="déjà revus"):
        services.mark_readings_reviewed(bo, "vu", ids=[rows[0].pk])
    assert ReadingReview.objects.count() == 1
    assert OperatorAction.objects.filter(kind="readings_reviewed").count() == 1


@pytest.mark.parametrize("role", ["agent", "auditor", "none"])
def test_only_the_back_office_and_supervisors_may_review(operator, role):
    rows = rejected(1)
    with pytest.raises(PermissionDenied):
        services.mark_readings_reviewed(operator(role), "non", ids=[rows[0].pk])
    review = services.mark_readings_reviewed(operator("backoffice"), "oui", ids=[rows[0].pk])
    with pytest.raises(PermissionDenied):
        services.undo_reading_review(operator(role), review, "non")
    assert waiting() == 0


def test_the_queue_page_filters_and_marks_the_selection(console):
    rows = rejected(3, "conflict", detail="another value 1200.0 already received")
    rejected(2, "implausible")
    c = console("backoffice")
    home = c.get("/console/").content.decode()
    assert "Relevés refusés, par raison" in home
    page = c.get(QUEUE).content.decode()
    assert "Autre valeur déjà reçue pour cet instant" in page  # the reason, in French
    assert "Saut invraisemblable" in page and 'name="ids"' in page
    page = c.get(QUEUE, {"cause": "conflict"}).content.decode()
    assert page.count('name="ids"') == 3 and "already received" in page
    assert "Marquer les 3 relevés du filtre comme revus" in page

    r = c.post(
        QUEUE,
        {"ids": [rows[0].pk, rows[1].pk], "scope": "selection", "reason": "Conflit expliqué"},
    )
    assert r.status_code == 302 and r["Location"] == QUEUE
    page = c.get(QUEUE).content.decode()
    assert "2 relevés marqués revus" in page and "Annuler la revue" in page
    assert waiting() == 3

    # Without a reason: refused, nothing written.
    r = c.post(QUEUE, {"ids": [rows[2].pk], "scope": "selection", "reason": ""})
    assert r.status_code == 400 and waiting() == 3
    # Nothing ticked: said so.
    r = c.post(QUEUE, {"scope": "selection", "reason": "rien"})
    assert r.status_code == 400 and "Cochez au moins un relevé" in r.content.decode()


def test_the_queue_page_marks_all_of_the_filter_and_undoes(console):
    rejected(3, "index_decrease")
    rejected(2, "unknown_ean")
    c = console("supervisor")
    up_to = RejectedReading.objects.order_by("-pk").values_list("pk", flat=True)[0]
    r = c.post(
        QUEUE,
        {"cause": "index_decrease", "up_to": up_to, "scope": "filter", "reason": "Compteur remis"},
    )
    assert r.status_code == 302 and r["Location"] == f"{QUEUE}?cause=index_decrease"
    assert waiting() == 2
    review = ReadingReview.objects.get()
    undo_url = f"/console/reading-reviews/{review.pk}/undo/"
    page = c.get(undo_url).content.decode()
    assert "3 relevés marqués revus" in page and "Compteur remis" in page
    assert c.post(undo_url, {"reason": ""}).status_code == 400 and waiting() == 2
    r = c.post(undo_url, {"reason": "Erreur de filtre"})
    assert r.status_code == 302 and waiting() == 5
    follow = c.get(QUEUE).content.decode()
    assert "3 relevés sont de nouveau à revoir" in follow
    assert "Annuler la revue" not in follow  # an undone review is not offered again


@pytest.mark.parametrize("role", ["agent", "auditor"])
def test_others_see_the_queue_but_cannot_mark_or_undo(console, operator, role):
    rows = rejected(2)
    review = services.mark_readings_reviewed(operator("backoffice"), "vu", ids=[rows[0].pk])
    c = console(role)
    page = c.get(QUEUE)
    assert page.status_code == 200 and 'name="ids"' not in page.content.decode()
    assert "Annuler la revue" not in page.content.decode()
    forged = c.post(QUEUE, {"ids": [rows[1].pk], "scope": "selection", "reason": "forgé"})
    assert forged.status_code == 403 and waiting() == 1
    undo_url = f"/console/reading-reviews/{review.pk}/undo/"
    assert c.get(undo_url).status_code == 403
    assert c.post(undo_url, {"reason": "forgé"}).status_code == 403 and waiting() == 1
