-- The kinds of notification the patient does not want (comma-separated codes; empty: all).
-- Emergency accesses are always notified: the service refuses to mute them.
ALTER TABLE notification_preferences ADD COLUMN muted_kinds TEXT NOT NULL DEFAULT '';
