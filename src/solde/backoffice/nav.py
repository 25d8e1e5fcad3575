"""The console's menu. A new page adds a `NavItem` here (and its URL in urls.py): the menu
shows it to the operators holding its permission."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class NavItem:
    section: str
    url_name: str
    label: str | Promise
    permission: str  # a backoffice codename


NAV: list[NavItem] = [
    NavItem("home", "console:home", _("Accueil et files"), "use_console"),
    NavItem("search", "console:search", _("Rechercher un client"), "use_console"),
    NavItem("dashboard", "console:dashboard", _("Tableau de bord"), "view_dashboard"),
    NavItem("migration", "console:migration", _("Compteurs à budget"), "migrate_budget_meters"),
]


def register(item: NavItem) -> None:
    if item not in NAV:
        NAV.append(item)


def items_for(user) -> list[NavItem]:
    return [i for i in NAV if user.has_perm(f"backoffice.{i.permission}")]
