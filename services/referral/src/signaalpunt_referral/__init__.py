"""Referral: the social map (Open Referral HSDS shaped) and closed-loop referrals with capacity."""
