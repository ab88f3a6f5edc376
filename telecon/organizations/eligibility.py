"""Who counts, as SQL: the one definition of an active member and of a bookable specialist.

Every query that decides who may act or who may be booked is built from these expressions: the check
behind each bearer token (``role_in``), the specialist lists and lookups, slot search, the booking's own
context query and the join-link lookup. So a new way of being switched off (today: the account's
``is_active``, the membership's ``deactivated_at``, an ended membership, which is a deleted row) is
added here once and holds everywhere.

The predicates take the membership and user entities to use, so that a query can apply them to aliases
(the booking query checks the caller and the specialist, two memberships, in one statement).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Exists, Select, and_, exists, select
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import AliasedClass

from telecon.access import Role
from telecon.organizations.models import Membership, User

MembershipEntity = type[Membership] | AliasedClass[Membership]
UserEntity = type[User] | AliasedClass[User]


def active_member_of(
    organization_id: Any, membership: MembershipEntity = Membership, user: UserEntity = User
) -> ColumnElement[bool]:
    """The membership belongs to the organization and counts: not deactivated there, the account not switched off.

    ``organization_id`` is a value, a bind parameter or a column of the surrounding query.
    """
    return and_(
        membership.user_id == user.id,
        membership.organization_id == organization_id,
        membership.deactivated_at.is_(None),
        user.is_active.is_(True),
    )


def bookable_specialist_of(
    organization_id: Any, membership: MembershipEntity = Membership, user: UserEntity = User
) -> ColumnElement[bool]:
    """An active member of the organization in the specialist role: may be listed, searched and booked."""
    return and_(active_member_of(organization_id, membership, user), membership.role == Role.specialist)


def current_role(user_id: Any, organization_id: Any) -> Select[Role]:
    """The user's role in the organization while the membership counts; no row otherwise."""
    membership, user = aliased(Membership), aliased(User)
    return select(membership.role).where(user.id == user_id, active_member_of(organization_id, membership, user))


def specialist_available(specialist_id: Any, organization_id: Any) -> Exists:
    """Whether the specialist may still hold consultations of the organization (e.g. of a booked one's columns)."""
    membership, user = aliased(Membership), aliased(User)
    return exists().where(user.id == specialist_id, bookable_specialist_of(organization_id, membership, user))
