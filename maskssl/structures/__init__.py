"""Conventions shared by data pipelines and algorithms."""
from .view_roles import (MOMENTUM_ROLES, ONLINE_ROLES, VIEW_ROLES,
                         check_view_roles, view_roles_of)

__all__ = [
    'MOMENTUM_ROLES', 'ONLINE_ROLES', 'VIEW_ROLES', 'check_view_roles',
    'view_roles_of'
]
