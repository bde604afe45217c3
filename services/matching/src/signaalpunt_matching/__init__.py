"""Volunteer matching: trained volunteers matched fairly, explained, coupled to a social worker."""
