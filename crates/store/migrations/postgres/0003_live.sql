-- Cheap counts and the escalation job (issue 3: live and unread).

-- "My patients" counts each patient's unread entries: the entries of the patient not written by
-- the person, less those they have read. With (patient_id, author_id, id) the count reads the
-- index only (and probes entry_reads by its primary key), never the entries themselves.
create index timeline_entries_unread_idx on timeline_entries (patient_id, author_id, id);

-- The escalation job asks every minute for urgent messages still waiting. Few rows ever match,
-- so a partial index keeps that query off the whole timeline. The query repeats this predicate
-- word for word (`urgent = true`, not a bound parameter), or SQLite cannot use the index.
create index timeline_entries_waiting_idx on timeline_entries (created_at)
    where urgent = true and acknowledged_at is null and escalated_at is null;
