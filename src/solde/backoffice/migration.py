"""The console's page for moving budget-meter customers to prepayment: the same service as
`solde migrate-budget-meters` (budgetmeters.services.migrate), a dry run first, then the import;
each batch's letters as one printable PDF (docs/migration.md)."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from solde.backoffice import services
from solde.backoffice.models import ActionKind
from solde.backoffice.views import console_view, page
from solde.budgetmeters import services as budgetmeters
from solde.notifications import letters
from solde.registry import services as registry
from solde.registry.models import Dso

MAX_FILE_BYTES = 20 * 1024 * 1024

# A line's outcome as the operator reads it.
STATUS_LABELS = {
    budgetmeters.Status.NEW: gettext_lazy("sera importée"),
    budgetmeters.Status.MIGRATED: gettext_lazy("importée"),
    budgetmeters.Status.ALREADY: gettext_lazy("déjà importée"),
    budgetmeters.Status.REFUSED: gettext_lazy("refusée"),
}


class MigrationForm(forms.Form):
    dso = forms.ChoiceField(label=gettext_lazy("GRD"))
    file = forms.FileField(label=gettext_lazy("Fichier CSV des compteurs à budget"))
    batch_size = forms.IntegerField(
        label=gettext_lazy("Lignes par lot"),
        help_text=gettext_lazy(
            "Chaque lot est importé dans sa propre transaction et produit un PDF de lettres."
        ),
        min_value=1,
        max_value=5000,
        initial=budgetmeters.DEFAULT_BATCH,
        required=False,
    )
    reason = forms.CharField(
        label=gettext_lazy("Raison (obligatoire)"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=500,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dso"].choices = [(d.code, d.name) for d in Dso.objects.order_by("code")]

    def clean_file(self):
        f = self.cleaned_data["file"]
        if f.size > MAX_FILE_BYTES:
            raise forms.ValidationError(_("Le fichier dépasse 20 Mo : découpez-le."))
        return f


@console_view("migrate_budget_meters")
def migration(request: HttpRequest) -> HttpResponse:
    """Check the file (every line's outcome, nothing written) or import it."""
    form = MigrationForm(request.POST or None, request.FILES or None)
    report = None
    error = ""
    if request.method == "POST" and form.is_valid():
        dry_run = request.POST.get("action") != "import"
        data = form.cleaned_data["file"].read()
        try:
            report = budgetmeters.migrate(
                data,
                form.cleaned_data["dso"],
                dry_run=dry_run,
                batch_size=form.cleaned_data["batch_size"] or budgetmeters.DEFAULT_BATCH,
                label=form.cleaned_data["file"].name,
            )
        except (budgetmeters.MigrationFileError, registry.InvalidInput) as exc:
            error = str(exc)
        else:
            if not dry_run:
                services._record(
                    request.user,
                    ActionKind.BUDGET_MIGRATION,
                    form.cleaned_data["reason"],
                    f"{report.count(budgetmeters.Status.MIGRATED)} budget-meter customers "
                    f"migrated from {form.cleaned_data['file'].name}",
                    dso=report.dso,
                    migrated=report.count(budgetmeters.Status.MIGRATED),
                    refused=len(report.refused),
                    batches=[b.pdf for b in report.batches],
                )
    return page(
        request,
        "backoffice/migration.html",
        {
            "section": "migration",
            "form": form,
            "report": report,
            "error": error,
            "outcomes": [(o, STATUS_LABELS.get(o.status, o.status)) for o in report.lines]
            if report
            else [],
        },
    )


@console_view("migrate_budget_meters")
def migration_letters(request: HttpRequest, name: str) -> HttpResponseBase:
    """One batch's letters (the PDF the import wrote under MEDIA_ROOT)."""
    root = (Path(settings.MEDIA_ROOT) / letters.LETTER_DIR / "migration").resolve()
    path = (root / name).resolve()
    if path.parent != root or path.suffix != ".pdf" or not path.is_file():
        raise Http404
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
