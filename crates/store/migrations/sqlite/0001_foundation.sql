-- Foundation: organisations, districts, people, login factors, sessions, tokens, audit log.
-- Times are UTC microseconds since the Unix epoch (bigint); ids are UUIDv7 text.

create table organisations (
    id text not null constraint organisations_pkey primary key,
    kind text not null,
    name text not null,
    name_kana text not null default '',
    parent_id text constraint organisations_parent_fkey references organisations (id),
    city_no text,
    address text not null default '',
    phone text not null default '',
    jurisdiction text not null default '',
    operator_name text not null default '',
    is_emergency_hospital boolean not null default false,
    created_at bigint not null,
    updated_at bigint not null,
    constraint organisations_name_check check (length(name) > 0)
);
create index organisations_kind_idx on organisations (kind, name);

create table districts (
    name text not null constraint districts_pkey primary key,
    support_center_id text not null constraint districts_center_fkey references organisations (id),
    -- The city's order of the districts within their center.
    position bigint not null default 0
);
create index districts_center_idx on districts (support_center_id);

create table users (
    id text not null constraint users_pkey primary key,
    login text not null constraint users_login_key unique,
    display_name text not null,
    display_name_kana text not null default '',
    profession text not null,
    email text,
    password_hash text,
    totp_secret text,
    totp_enabled_at bigint,
    -- The last TOTP time step used: a code is accepted once only.
    totp_last_step bigint not null default 0,
    disabled_at bigint,
    created_at bigint not null
);

create table user_duties (
    user_id text not null constraint user_duties_user_fkey references users (id),
    duty text not null,
    constraint user_duties_pkey primary key (user_id, duty)
);

create table affiliations (
    user_id text not null constraint affiliations_user_fkey references users (id),
    organisation_id text not null constraint affiliations_org_fkey references organisations (id),
    constraint affiliations_pkey primary key (user_id, organisation_id)
);
create index affiliations_org_idx on affiliations (organisation_id);

create table recovery_codes (
    user_id text not null constraint recovery_codes_user_fkey references users (id),
    code_hash text not null,
    used_at bigint,
    constraint recovery_codes_pkey primary key (user_id, code_hash)
);

create table passkeys (
    id text not null constraint passkeys_pkey primary key,
    user_id text not null constraint passkeys_user_fkey references users (id),
    name text not null,
    credential_id text not null constraint passkeys_credential_key unique,
    credential_json text not null,
    created_at bigint not null,
    last_used_at bigint
);
create index passkeys_user_idx on passkeys (user_id);

create table webauthn_challenges (
    id text not null constraint webauthn_challenges_pkey primary key,
    user_id text,
    purpose text not null,
    state_json text not null,
    created_at bigint not null
);

create table client_certificates (
    fingerprint text not null constraint client_certificates_pkey primary key,
    user_id text not null constraint client_certificates_user_fkey references users (id),
    label text not null,
    created_at bigint not null
);

create table sessions (
    token_hash text not null constraint sessions_pkey primary key,
    user_id text not null constraint sessions_user_fkey references users (id),
    stage text not null,
    created_at bigint not null,
    last_seen_at bigint not null,
    address text,
    constraint sessions_stage_check check (stage in ('full', 'second_factor'))
);
create index sessions_user_idx on sessions (user_id);

create table login_throttle (
    key text not null constraint login_throttle_pkey primary key,
    failures bigint not null,
    first_failure_at bigint not null,
    locked_until bigint not null
);

create table invitations (
    token_hash text not null constraint invitations_pkey primary key,
    user_id text not null constraint invitations_user_fkey references users (id),
    created_by text not null constraint invitations_creator_fkey references users (id),
    created_at bigint not null,
    expires_at bigint not null,
    used_at bigint
);
create index invitations_user_idx on invitations (user_id);

create table api_tokens (
    id text not null constraint api_tokens_pkey primary key,
    user_id text not null constraint api_tokens_user_fkey references users (id),
    token_hash text not null constraint api_tokens_hash_key unique,
    label text not null,
    read_only boolean not null default false,
    created_at bigint not null,
    expires_at bigint not null,
    revoked_at bigint
);
create index api_tokens_user_idx on api_tokens (user_id);

create table settings (
    key text not null constraint settings_pkey primary key,
    value text not null
);

create table audit_events (
    seq bigint not null constraint audit_events_pkey primary key,
    at bigint not null,
    actor_id text,
    actor_login text,
    action text not null,
    target_kind text,
    target_id text,
    patient_id text,
    address text,
    outcome text not null,
    detail text,
    prev_hash text not null,
    hash text not null
);
create index audit_events_actor_idx on audit_events (actor_id, seq);
create index audit_events_patient_idx on audit_events (patient_id, seq);

create table audit_head (
    id bigint not null constraint audit_head_pkey primary key,
    seq bigint not null,
    hash text not null,
    constraint audit_head_single_row check (id = 1)
);
insert into audit_head (id, seq, hash)
values (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The log is append-only: the database itself refuses updates and deletes.
create trigger audit_events_no_update before update on audit_events
begin select raise(abort, 'audit_events is append-only'); end;
create trigger audit_events_no_delete before delete on audit_events
begin select raise(abort, 'audit_events is append-only'); end;
