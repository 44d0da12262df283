-- The FHIR API (issue 5): the audit log records how each actor came in (`web`, `api:{token id}`,
-- `cli`), so every API call can be told from a page view. Hashed only when present: the events
-- stored before keep their hashes.
alter table audit_events add column via text;

-- AuditEvent search by type (auditors search the whole log by action) and by date.
create index audit_events_action_idx on audit_events (action, seq);
create index audit_events_at_idx on audit_events (at);

-- API tokens a person manages on their settings page: when each was last used (written at most
-- once every ten minutes per token, see `security::TOKEN_TOUCH_MICROS`).
alter table api_tokens add column last_used_at bigint;
