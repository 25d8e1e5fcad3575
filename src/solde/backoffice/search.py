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
from solde.registry.models import Customer, Meter, SupplyPoint

PAGE_SIZE = 20
# Results beyond this are not ranked further: the operator types more instead.
CAP = 200
# A name with an address in one query: asked only when nothing else matched.
MIXED = rules.RANK_NAME + 2
MIXED_CANDIDATES = 2000


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
            by_phone = Customer.objects.filter(phone__in=phones).values("pk")
            tiers.append((rules.RANK_CONTACT, "phone", sps.filter(customer__in=by_phone)))
        return tiers
    if len(q.words) == 1:
        word = q.words[0]
        serials = Meter.objects.filter(serial__iexact=word).values("supply_point")
        tiers.append((rules.RANK_EXACT, "serial", sps.filter(pk__in=serials)))
        if "@" in word:
            # An e-mail address, whole or its beginning; never looked up as a name.
            by_email = Customer.objects.filter(email__iexact=word).values("pk")
            tiers.append((rules.RANK_CONTACT, "email", sps.filter(customer__in=by_email)))
            starting = Customer.objects.filter(email__istartswith=word).values("pk")[:CAP]
            tiers.append((rules.RANK_CONTACT, "email", sps.filter(customer__in=starting)))
            return tiers
    if len(q.text) < 2:
        return tiers
    # Names, e-mails and addresses: every word must match. The customer's side and the
    # address's side are asked separately so each is served by its own table's trigram
    # indexes (a join with OR across both tables scans); a mixed query ("dupont liège") comes
    # last. Words shorter than 3 letters only as a prefix (trigrams cannot serve them inside).
    people = Customer.objects.all()
    starts, contains, places, mixed, named = Q(), Q(), Q(), Q(), Q()
    for w in q.words:
        short = len(w) < 3
        starts &= Q(last_name__istartswith=w) | Q(first_name__istartswith=w)
        contains &= (
            (Q(last_name__istartswith=w) | Q(first_name__istartswith=w))
            if short
            else Q(last_name__icontains=w) | Q(first_name__icontains=w) | Q(email__icontains=w)
        )
        place = (
            Q(city__istartswith=w) | Q(number__iexact=w) | Q(postcode__startswith=w)
            if short
            else Q(street__icontains=w) | Q(city__icontains=w) | Q(postcode__startswith=w)
        )
        places &= place
        name = Q(last_name__icontains=w) | Q(first_name__icontains=w) | Q(email__icontains=w)
        named |= name
        mixed &= (
            place
            | Q(customer__last_name__icontains=w)
            | Q(customer__first_name__icontains=w)
            | Q(customer__email__icontains=w)
        )

    def of(customers: Q) -> QuerySet:
        # The matching customers first (their indexes), capped, then their supply points.
        ids = people.filter(customers).order_by("pk").values("pk")[:CAP]
        return sps.filter(customer__in=ids)

    tiers.append((rules.RANK_NAME, "name", of(starts)))
    tiers.append((rules.RANK_NAME + 1, "name", of(contains)))
    tiers.append((rules.RANK_NAME + 1, "address", sps.filter(places)))
    if len(q.words) > 1:
        # Candidates first: customers whose name matches one of the words (trigram indexes),
        # capped; then the supply points among them where every word matches somewhere.
        candidates = people.filter(named).values("pk")[:MIXED_CANDIDATES]
        tiers.append((MIXED, "name", sps.filter(customer__in=candidates).filter(mixed)))
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
        # A name with an address is asked only when the separate tiers found nothing.
        if seen and rank == MIXED:
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
