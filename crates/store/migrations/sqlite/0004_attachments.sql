-- Photos and files on a patient's timeline and signed consent forms. The content lives outside
-- the database in the attachments folder (written and fsynced before the row commits); the row
-- says what it is, whose it is and where it lies.
create table attachments (
    id text not null constraint attachments_pkey primary key,
    patient_id text not null constraint attachments_patient_fkey references patients (id),
    entry_id text constraint attachments_entry_fkey references timeline_entries (id),
    consent_id text constraint attachments_consent_fkey references consents (id),
    original_name text not null,
    content_type text not null,
    size bigint not null,
    sha256 text not null,
    stored_path text not null,
    thumbnail_path text,
    created_by text not null constraint attachments_created_by_fkey references users (id),
    created_at bigint not null,
    constraint attachments_size_check check (size > 0)
);
create index attachments_patient_idx on attachments (patient_id, created_at);
create index attachments_entry_idx on attachments (entry_id);
create index attachments_consent_idx on attachments (consent_id);

-- Like the timeline, attachments are never changed or removed.
create trigger attachments_no_update before update on attachments
begin select raise(abort, 'attachments is append-only'); end;
create trigger attachments_no_delete before delete on attachments
begin select raise(abort, 'attachments is append-only'); end;
