-- Patient information sharing: patients, consent, care teams, the timeline, vital signs,
-- reads, emergency views. Clinical entries are append-only: a correction is a new entry.

create table patients (
    id text not null constraint patients_pkey primary key,
    name text not null,
    name_kana text not null,
    -- text::name_key(name_kana): duplicate detection and emergency search (NFKC, katakana →
    -- hiragana, no spaces).
    name_folded text not null,
    birth_date text not null,
    sex text not null,
    address text not null default '',
    district text,
    support_center_id text constraint patients_center_fkey references organisations (id),
    phone text not null default '',
    care_level text not null default 'none',
    insurance_number text,
    key_person text not null default '',
    emergency_contacts text not null default '',
    conditions text not null default '',
    allergies text not null default '',
    medications text not null default '',
    attending_physician_id text not null constraint patients_attending_fkey references users (id),
    registered_by text not null constraint patients_registered_by_fkey references users (id),
    version bigint not null default 1,
    created_at bigint not null,
    updated_at bigint not null
);
create index patients_duplicate_idx on patients (name_folded, birth_date);
create index patients_attending_idx on patients (attending_physician_id);

-- Earlier versions of a patient's summary: nothing is changed silently.
create table patient_versions (
    patient_id text not null constraint patient_versions_patient_fkey references patients (id),
    version bigint not null,
    data text not null,
    changed_by text not null,
    changed_at bigint not null,
    constraint patient_versions_pkey primary key (patient_id, version)
);

create table consents (
    id text not null constraint consents_pkey primary key,
    patient_id text not null constraint consents_patient_fkey references patients (id),
    consenter text not null,
    proxy_name text,
    proxy_relation text,
    consented_on text not null,
    scope text not null,
    form_attachment_id text,
    recorded_by text not null constraint consents_recorded_by_fkey references users (id),
    recorded_at bigint not null,
    withdrawn_at bigint,
    withdrawn_by text,
    withdrawal_reason text,
    constraint consents_consenter_check check (consenter in ('patient', 'proxy'))
);
create index consents_patient_idx on consents (patient_id, recorded_at);

create table team_members (
    patient_id text not null constraint team_members_patient_fkey references patients (id),
    user_id text not null constraint team_members_user_fkey references users (id),
    role text not null,
    status text not null,
    requested_by text not null,
    requested_at bigint not null,
    decided_by text,
    decided_at bigint,
    ends_at bigint,
    note text not null default '',
    constraint team_members_pkey primary key (patient_id, user_id),
    constraint team_members_role_check check (role in ('attending', 'sub_attending', 'member')),
    constraint team_members_status_check check (status in ('pending', 'active', 'refused', 'removed'))
);
create index team_members_user_idx on team_members (user_id, status);

-- Every change of a membership, for the team page's history.
create table team_events (
    id text not null constraint team_events_pkey primary key,
    patient_id text not null constraint team_events_patient_fkey references patients (id),
    user_id text not null,
    action text not null,
    actor_id text not null,
    at bigint not null,
    note text not null default ''
);
create index team_events_patient_idx on team_events (patient_id, at);

create table timeline_entries (
    id text not null constraint timeline_entries_pkey primary key,
    patient_id text not null constraint timeline_entries_patient_fkey references patients (id),
    kind text not null,
    author_id text not null constraint timeline_entries_author_fkey references users (id),
    author_profession text not null,
    author_org_id text,
    created_at bigint not null,
    occurred_at bigint not null,
    body text not null default '',
    data text not null default '{}',
    corrects_id text constraint timeline_entries_corrects_fkey references timeline_entries (id),
    urgent boolean not null default false,
    needs_reply boolean not null default false,
    addressee_id text,
    acknowledged_at bigint,
    acknowledged_by text,
    escalated_at bigint
);
create index timeline_entries_patient_idx on timeline_entries (patient_id, created_at, id);
create index timeline_entries_addressee_idx on timeline_entries (addressee_id, acknowledged_at);
create index timeline_entries_corrects_idx on timeline_entries (corrects_id);

create table vital_signs (
    entry_id text not null constraint vital_signs_entry_fkey references timeline_entries (id),
    patient_id text not null,
    kind text not null,
    value double precision not null,
    measured_at bigint not null,
    constraint vital_signs_pkey primary key (entry_id, kind)
);
create index vital_signs_patient_idx on vital_signs (patient_id, kind, measured_at);

create table entry_reads (
    entry_id text not null constraint entry_reads_entry_fkey references timeline_entries (id),
    user_id text not null,
    read_at bigint not null,
    constraint entry_reads_pkey primary key (entry_id, user_id)
);
create index entry_reads_user_idx on entry_reads (user_id, entry_id);

create table emergency_accesses (
    id text not null constraint emergency_accesses_pkey primary key,
    patient_id text not null constraint emergency_accesses_patient_fkey references patients (id),
    user_id text not null constraint emergency_accesses_user_fkey references users (id),
    reason text not null,
    opened_at bigint not null,
    expires_at bigint not null,
    seen_by_attending_at bigint
);
create index emergency_accesses_patient_idx on emergency_accesses (patient_id, user_id, expires_at);

-- Clinical entries are append-only: corrections are new entries. Only the acknowledgement and
-- escalation columns of a message may be set, once.
create function timeline_entries_append_only() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        raise exception 'timeline_entries is append-only';
    end if;
    if (new.id, new.patient_id, new.kind, new.author_id, new.author_profession, new.author_org_id,
        new.created_at, new.occurred_at, new.body, new.data, new.corrects_id, new.urgent,
        new.needs_reply, new.addressee_id)
       is distinct from
       (old.id, old.patient_id, old.kind, old.author_id, old.author_profession, old.author_org_id,
        old.created_at, old.occurred_at, old.body, old.data, old.corrects_id, old.urgent,
        old.needs_reply, old.addressee_id) then
        raise exception 'timeline_entries is append-only';
    end if;
    return new;
end;
$$;
create trigger timeline_entries_no_edit before update or delete on timeline_entries
for each row execute function timeline_entries_append_only();
