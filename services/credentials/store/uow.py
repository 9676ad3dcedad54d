"""The vault's unit of work: one transaction, with its repositories."""

from __future__ import annotations

from services.common.db import UnitOfWork
from services.credentials.store.audit import AuditRepository
from services.credentials.store.credentials import CredentialRepository


class VaultUnitOfWork(UnitOfWork):
    credentials: CredentialRepository
    audit: AuditRepository

    def _open(self) -> None:
        self.credentials = CredentialRepository(self.connection)
        self.audit = AuditRepository(self.connection)
