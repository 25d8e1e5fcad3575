"""The one search box: EAN (full or its last 13 digits), customer reference, structured
communication, meter serial, name, address, phone, e-mail.

Each kind of match is its own indexed query, asked in rank order (exact identifiers, then
identifier prefixes, then contact details, then names and addresses) and capped, so a search
costs a few index lookups whatever the size of the fleet. On PostgreSQL names, addresses and
e-mails are served by trigram indexes (migration 0003); identifiers by pattern indexes."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet

from solde.backoffice import rules
from solde.identifiers import parse_structured_communication
from solde.registry.models import Meter, SupplyPoint

PAGE_SIZE = 20
# Results beyond this are not ranked further: the operator types more instead.
CAP = 200


@dataclass
class Hit:
    supply_point: SupplyPoint
    rank: int
    matched: str  # what matched: "ean", "reference", "ogm", "serial", "phone", "email", "name"


def _ids(qs: QuerySet, limit: int) -> list[int]:
    return list(qs.order_by("pk").values_list("pk", flat=True)[:limit])


def _phone_forms(digits: str) -> list[str]:
    """A phone number as typed (0470 12 34 56, 32470…, +32…) in the stored E.164 form."""
    if digits.startswith("00"):
        return ["+" + digits[2:]]
    if digits.startswith("0"):
        return ["+32" + digits[1:]]
    return ["+" + digits, digits]


def _tiers(q: rules.SearchQuery) -> list[tuple[int, str, QuerySet]]:
    sps = SupplyPoint.objects.all()
    tiers: list[tuple[int, str, QuerySet]] = []
    d = q.digits
    if d:
        if len(d) == 18:
            tiers.append((rules.RANK_EXACT, "ean", sps.filter(ean=d)))
        if len(d) == 13:
            tiers.append((rules.RANK_EXACT, "reference", sps.filter(customer_reference=d)))
        if len(d) == 12:
            ogm = parse_structured_communication(d)
            if ogm:
                tiers.append((rules.RANK_EXACT, "ogm", sps.filter(structured_communication=ogm)))
        serial_sps = Meter.objects.filter(serial=q.text.replace(" ", "")).values("supply_point")
        tiers.append((rules.RANK_EXACT, "serial", sps.filter(pk__in=serial_sps)))
        if len(d) >= 4:
            tiers.append(
                (rules.RANK_PREFIX, "reference", sps.filter(customer_reference__startswith=d))
            )
            tiers.append((rules.RANK_PREFIX, "ean", sps.filter(ean__startswith=d)))
            serials = Meter.objects.filter(serial__startswith=d).values("supply_point")
            tiers.append((rules.RANK_PREFIX, "serial", sps.filter(pk__in=serials)))
        if len(d) >= 8:
            phones = _phone_forms(d)
            tiers.append((rules.RANK_CONTACT, "phone", sps.filter(customer__phone__in=phones)))
        return tiers
    if len(q.words) == 1:
        word = q.words[0]
        serials = Meter.objects.filter(serial__iexact=word).values("supply_point")
        tiers.append((rules.RANK_EXACT, "serial", sps.filter(pk__in=serials)))
        if "@" in word:
            tiers.append((rules.RANK_CONTACT, "email", sps.filter(customer__email__iexact=word)))
    if len(q.text) < 2:
        return tiers
    # Names and addresses: every word must match a name, the address or the e-mail. Words
    # shorter than 3 letters only as a prefix (a trigram index cannot serve them inside).
    starts = Q()
    contains = Q()
    for w in q.words:
        if len(w) < 3:
            one = (
                Q(customer__last_name__istartswith=w)
                | Q(customer__first_name__istartswith=w)
                | Q(city__istartswith=w)
                | Q(number__iexact=w)
            )
            starts &= one
            contains &= one
            continue
        starts &= Q(customer__last_name__istartswith=w) | Q(customer__first_name__istartswith=w)
        contains &= (
            Q(customer__last_name__icontains=w)
            | Q(customer__first_name__icontains=w)
            | Q(customer__email__icontains=w)
            | Q(street__icontains=w)
            | Q(city__icontains=w)
            | Q(postcode__startswith=w)
        )
    tiers.append((rules.RANK_NAME, "name", sps.filter(starts)))
    tiers.append((rules.RANK_NAME + 1, "name", sps.filter(contains)))
    return tiers


def search(text: str) -> list[tuple[int, int, str]]:
    """(supply point id, rank, what matched) for a search box entry, best first, at most CAP."""
    q = rules.parse_query(text)
    if not q.text:
        return []
    seen: dict[int, tuple[int, int, str]] = {}
    for rank, matched, qs in _tiers(q):
        # An identifier typed in full is what the operator wants: no prefix or name matches.
        exact = any(r == rules.RANK_EXACT for _, r, _ in seen.values())
        if len(seen) >= CAP or (rank > rules.RANK_EXACT and exact):
            break
        for pk in _ids(qs, CAP - len(seen)):
            if pk not in seen:
                seen[pk] = (pk, rank, matched)
    return sorted(seen.values(), key=lambda row: row[1])


def page_of(text: str, number: int | str | None) -> tuple[Page, list[Hit], bool]:
    """One page of hits with their supply points (customer, DSO, account) loaded; `capped` says
    there may be more than CAP."""
    rows = search(text)
    paginator = Paginator(rows, PAGE_SIZE)
    page = paginator.get_page(number)
    ids = [pk for pk, _, _ in page.object_list]
    loaded = SupplyPoint.objects.select_related(
        "customer", "dso", "account__balance_account"
    ).in_bulk(ids)
    hits = [Hit(loaded[pk], rank, matched) for pk, rank, matched in page.object_list]
    return page, hits, len(rows) >= CAP
