"""Organizations (tenants), staff users and their memberships."""
