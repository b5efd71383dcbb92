"""Keyed hashes: the customer index stores these, never an ID number, phone or name.

HMAC-SHA256 with a secret from the settings: without the secret a stolen Redis dump cannot
be matched against a list of phone numbers. Attribute hashes (name, birth date, gender) are
salted with the person's ID, so two customers' equal birth dates are not linkable either; only
the same person's values on two policies compare.
"""
from __future__ import annotations

import hmac
from functools import lru_cache

DEV_SECRET = "policyguard-development-secret"
"""The demo's, the tests' and a broker-less replay's secret. Never for production data: a
worker pointed at Redis refuses to start without ``POLICYGUARD_HASH_SECRET``."""

DIGEST_CHARS = 32
"""128 bits of HMAC in hex: collision-free at any book size, half the memory of the full digest."""


class Hasher:
    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if not key:
            raise ValueError("the hash secret is empty")
        self._key = key
        self.person = lru_cache(maxsize=65_536)(self._person)
        self.document = lru_cache(maxsize=65_536)(self._document)
        self.mobile = lru_cache(maxsize=65_536)(self._mobile)
        self.attribute = lru_cache(maxsize=262_144)(self._attribute)

    def _digest(self, *parts: str) -> str:
        return hmac.digest(self._key, "\x1f".join(parts).encode(), "sha256").hex()[:DIGEST_CHARS]

    def _person(self, id_type: str, id_no: str) -> str:
        """One person, as the contract identifies them: ID type and number."""
        return self._digest("person", id_type, id_no)

    def _document(self, id_no: str) -> str:
        """An ID number whatever document type it was entered under: how the roster's ``id_no``
        finds a staff member on their own policies (a resident ID, a residence permit or a
        passport alike)."""
        return self._digest("document", id_no)

    def _mobile(self, number: str) -> str:
        return self._digest("mobile", number)

    def _attribute(self, person: str, field: str, value: str) -> str:
        """A person's name, birth date or gender, comparable only with the same person's."""
        return self._digest("attr", person, field, value)
