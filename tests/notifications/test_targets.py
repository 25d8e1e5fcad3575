"""Who gets what (pure): properties over every combination of preferences and recipients."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from solde.notifications import rules
from solde.notifications.models import ContactPreference, EventKind, ExtraRecipient
from solde.notifications.services import targets_for
from solde.registry.models import Customer

emails = st.sampled_from(["", "client@example.org", "CLIENT@example.org", "ami@example.be"])
phones = st.sampled_from(["", "+32470123456", "0470 12 34 56", "04 222 33 44", "12"])


@st.composite
def situations(draw):
    customer = Customer(
        pk=1,
        first_name="A",
        last_name="B",
        email=draw(emails),
        phone=draw(phones),
        language=draw(st.sampled_from(["fr", "nl", "xx"])),
    )
    pref = ContactPreference(
        customer=customer,
        email=draw(st.booleans()),
        sms=draw(st.booleans()),
        letter=draw(st.booleans()),
        muted_kinds=draw(st.lists(st.sampled_from(EventKind.values), max_size=4)),
    )
    extras = [
        ExtraRecipient(
            pk=i + 10,
            customer=customer,
            name=f"R{i}",
            email=draw(emails),
            phone=draw(phones),
            by_email=draw(st.booleans()),
            by_sms=draw(st.booleans()),
            language=draw(st.sampled_from(["", "de"])),
        )
        for i in range(draw(st.integers(0, 3)))
    ]
    return draw(st.sampled_from(EventKind.values)), customer, pref, extras


@settings(max_examples=300, deadline=None)
@given(situations())
def test_targets_invariants(situation):
    kind, customer, pref, extras = situation
    targets = targets_for(kind, customer, pref, extras)
    keys = [(t.channel, t.recipient.lower()) for t in targets]
    assert len(keys) == len(set(keys)), "one message per channel and recipient"
    assert all(t.language in ("fr", "nl", "de", "en") for t in targets)
    own = [t for t in targets if t.extra is None]
    if kind == "activation_code_issued":
        assert all(t.channel != "sms" for t in targets) and len(own) == len(targets)
        assert own, "the code always reaches the customer"
    elif kind in rules.MANDATORY_KINDS:
        assert own, "what the customer must act on always reaches them"
    elif kind in pref.muted_kinds:
        assert targets == []
    for t in targets:
        if t.channel == "sms":
            assert t.recipient.startswith("+32") and len(t.recipient) == 12  # a mobile
