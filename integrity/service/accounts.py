"""Senders (webhook secrets) and API keys: created by an operator, shown once, stored safely."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ddex.identifiers import check_dpid
from integrity.db.models import utc_now
from integrity.db.service_models import ApiKey, Sender, SenderDpid, SenderSecret
from integrity.service import security
from integrity.service.audit import record_event
from integrity.service.errors import ServiceError

OPERATOR_ACTOR, OPERATOR_ROLE = "operator:cli", "admin"
MAX_NAME_CHARS = 255


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new API key: `key` is shown once and never stored."""

    id: int
    key: str
    role: str
    sender: str | None


def create_sender(
    session: Session, *, name: str, dpids: tuple[str, ...] = ()
) -> tuple[Sender, str]:
    """A new sender with its first webhook secret (returned once) and its DPIDs."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise ServiceError(422, "name", f"1..{MAX_NAME_CHARS} printable characters")
    if session.scalars(select(Sender).where(Sender.name == name)).first() is not None:
        raise ServiceError(409, "name", f"sender {name!r} exists; rotate its secret instead")
    sender = Sender(name=name)
    session.add(sender)
    session.flush()
    secret = rotate_secret(session, sender=sender, revoke_old=False)
    record_event(
        session, actor=OPERATOR_ACTOR, role=OPERATOR_ROLE, action="sender.created", reason=name
    )
    for dpid in dpids:
        add_dpid(session, sender=sender, dpid=dpid)
    return sender, secret


def _operator_event(
    session: Session, *, action: str, sender: Sender, evidence: dict[str, object] | None = None
) -> None:
    """An audit event of an operator's change to a sender (the CLI acts as the admin)."""
    record_event(
        session,
        actor=OPERATOR_ACTOR,
        role=OPERATOR_ROLE,
        action=action,
        reason=sender.name,
        evidence=evidence,
    )


def normalise_dpid(raw: str) -> str:
    """A DDEX Party ID as senders write it in MessageSender (422 naming the field otherwise)."""
    check = check_dpid(raw)
    if check.value is None:
        raise ServiceError(422, "dpid", f"{raw!r} is not a DDEX Party ID: {check.detail}")
    return check.value


def sender_dpids(session: Session, *, sender_id: int) -> list[str]:
    """The DPIDs a sender may name as MessageSender, in registration order."""
    return list(
        session.scalars(
            select(SenderDpid.dpid).where(SenderDpid.sender_id == sender_id).order_by(SenderDpid.id)
        )
    )


def add_dpid(session: Session, *, sender: Sender, dpid: str) -> bool:
    """Let `sender` deliver messages whose MessageSender is `dpid`; False if it already may.

    Another sender may hold the same DPID (a label delivering through two accounts): what a
    sender delivers is keyed by the sender, so sharing a DPID never shares a catalog."""
    value = normalise_dpid(dpid)
    if value in sender_dpids(session, sender_id=sender.id):
        return False
    session.add(SenderDpid(sender_id=sender.id, dpid=value))
    _operator_event(session, action="sender.dpid_added", sender=sender, evidence={"dpid": value})
    session.flush()
    return True


def remove_dpid(session: Session, *, sender: Sender, dpid: str) -> None:
    """Stop accepting `dpid` from `sender` (what it delivered before stays its own)."""
    value = normalise_dpid(dpid)
    row = session.scalars(
        select(SenderDpid).where(SenderDpid.sender_id == sender.id, SenderDpid.dpid == value)
    ).first()
    if row is None:
        raise ServiceError(404, "dpid", f"{value} is not registered to sender {sender.name!r}")
    session.delete(row)
    _operator_event(session, action="sender.dpid_removed", sender=sender, evidence={"dpid": value})
    session.flush()


def set_disabled(session: Session, *, sender: Sender, disabled: bool) -> None:
    """Disable (or enable again) a sender: its keys and webhooks are refused while disabled."""
    if sender.disabled == disabled:
        return
    sender.disabled = disabled
    _operator_event(
        session, action="sender.disabled" if disabled else "sender.enabled", sender=sender
    )
    session.flush()


def list_senders(session: Session) -> list[tuple[Sender, list[str]]]:
    """Every sender with its registered DPIDs."""
    senders = list(session.scalars(select(Sender).order_by(Sender.id)))
    return [(sender, sender_dpids(session, sender_id=sender.id)) for sender in senders]


def sender_by_name(session: Session, *, name: str) -> Sender:
    """One sender, or a 404 naming it."""
    sender = session.scalars(select(Sender).where(Sender.name == name)).first()
    if sender is None:
        raise ServiceError(404, "sender", f"no sender named {name!r}")
    return sender


def rotate_secret(session: Session, *, sender: Sender, revoke_old: bool) -> str:
    """Add a webhook secret (both verify until the old ones are revoked); returns the new one."""
    if revoke_old:
        for row in session.scalars(
            select(SenderSecret).where(
                SenderSecret.sender_id == sender.id, SenderSecret.revoked_at.is_(None)
            )
        ):
            row.revoked_at = utc_now()
    secret = security.new_webhook_secret()
    session.add(SenderSecret(sender_id=sender.id, secret=secret))
    _operator_event(
        session, action="sender.secret_rotated", sender=sender, evidence={"old_revoked": revoke_old}
    )
    return secret


def create_api_key(
    session: Session,
    *,
    role: str,
    sender_name: str | None = None,
    name: str | None = None,
    rate_per_minute: int | None = None,
) -> CreatedKey:
    """A new API key for a role; uploader keys name their sender."""
    if role not in security.ROLES:
        raise ServiceError(422, "role", f"must be one of {list(security.ROLES)}")
    sender: Sender | None = None
    if role == security.ROLE_UPLOADER:
        if sender_name is None:
            senders = list(session.scalars(select(Sender).where(Sender.disabled.is_(False))))
            if len(senders) != 1:
                names = ", ".join(s.name for s in senders) or "none yet"
                raise ServiceError(
                    422,
                    "sender",
                    f"required for uploader keys when there is not exactly one "
                    f"sender (senders: {names})",
                )
            sender = senders[0]
        else:
            sender = sender_by_name(session, name=sender_name)
    elif sender_name is not None:
        raise ServiceError(422, "sender", "only uploader keys name a sender")
    if rate_per_minute is not None and rate_per_minute <= 0:
        raise ServiceError(422, "rate", "a positive number of requests per minute")
    fresh = security.new_api_key()
    row = ApiKey(
        key_hash=fresh.key_hash,
        display_prefix=fresh.display_prefix,
        role=role,
        name=name or f"{role}:{fresh.display_prefix}",
        sender_id=sender.id if sender else None,
        rate_per_minute=rate_per_minute,
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        actor=OPERATOR_ACTOR,
        role=OPERATOR_ROLE,
        action="api_key.created",
        reason=role,
        evidence={
            "key_id": row.id,
            "prefix": fresh.display_prefix,
            "sender": sender.name if sender else None,
        },
    )
    return CreatedKey(id=row.id, key=fresh.key, role=role, sender=sender.name if sender else None)


def revoke_api_key(session: Session, *, key_id: int) -> ApiKey:
    """Revoke a key (API processes stop accepting it within their auth cache TTL)."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise ServiceError(404, "key_id", f"no API key {key_id}")
    if row.revoked_at is None:
        row.revoked_at = utc_now()
        record_event(
            session,
            actor=OPERATOR_ACTOR,
            role=OPERATOR_ROLE,
            action="api_key.revoked",
            evidence={"key_id": key_id},
        )
    return row


def list_api_keys(session: Session) -> list[ApiKey]:
    """Every key (hashes are never shown; the display prefix tells them apart)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
