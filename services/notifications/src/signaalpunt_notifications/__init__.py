"""Notifications: e-mail, SMS and signed webhooks, exactly one message per reason."""
