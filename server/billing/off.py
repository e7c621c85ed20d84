"""No payment provider configured (no STRIPE_/OMISE_ keys): every org is on the free plan,
the billing page says billing is not configured, and checkout answers 409."""

from __future__ import annotations

from server.billing.base import Payments


def no_payments() -> Payments:
    return Payments({})
