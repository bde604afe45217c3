"""Triage: proposes the route, risk groups, priority and first-contact deadline of every signal."""
