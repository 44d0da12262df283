-- A page of a patient's timeline costs the page, not the patient's history (issue 6, B1).

-- Entries of one kind, newest first (the patient page's latest ACP record, a FHIR search by
-- category) are one range of this index, and counting a search's matches (`_total=accurate`)
-- reads the index only: the kind before the time, `urgent` last for a search by priority.
create index timeline_entries_kind_idx on timeline_entries (patient_id, kind, created_at, id, urgent);

-- Vital-sign observations in the order they were measured: a page of them is a walk down this
-- index that stops after the page, not a sort of every vital sign of the patient. It replaces
-- (patient_id, kind, measured_at), which no query reads in that order.
create index vital_signs_time_idx on vital_signs (patient_id, measured_at, entry_id, kind);
drop index vital_signs_patient_idx;
