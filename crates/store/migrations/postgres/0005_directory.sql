-- The regional resource directory (issue 4): what providers offer, how professionals reach
-- them, physician consultation hours, short-stay vacancies and inquiries, and the change log.

-- Public fields of a provider.
alter table organisations add column postal_code text not null default '';
-- 方書 (building, floor) as the national open data writes it apart from the address.
alter table organisations add column address_extra text not null default '';
alter table organisations add column latitude double precision;
alter table organisations add column longitude double precision;
-- The district the provider lies in (a districts.name; not a foreign key so a district can be
-- renamed by the city without touching providers; the app checks it on write).
alter table organisations add column district text;
alter table organisations add column fax text not null default '';
alter table organisations add column website text not null default '';
alter table organisations add column corporate_number text not null default '';
-- 事業所番号: the national office number, the key of the open-data import.
alter table organisations add column office_no text;
alter table organisations add column capacity bigint;
alter table organisations add column open_days text not null default '';
alter table organisations add column open_days_note text not null default '';
alter table organisations add column accepting text not null default 'unknown';
alter table organisations add column description text not null default '';
-- For professionals only: the direct line, the person to contact, the best way and time.
alter table organisations add column contact_line text not null default '';
alter table organisations add column contact_person text not null default '';
alter table organisations add column contact_method text not null default '';
alter table organisations add column contact_hours text not null default '';
-- Whether the consultation hours also hold on Japanese public holidays.
alter table organisations add column consult_on_holidays boolean not null default false;
-- Name, kana and address folded for Japanese search (domain::directory::search_text).
alter table organisations add column search_text text not null default '';
-- When the operator or coordinator last confirmed the entry as true.
alter table organisations add column confirmed_at bigint;
-- Optimistic concurrency for edits: bumped by every change.
alter table organisations add column version bigint not null default 1;
-- Imported fields an operator has changed by hand: a newer import leaves them alone.
alter table organisations add column manual_fields text not null default '';

create unique index organisations_office_no_key on organisations (office_no);
create index organisations_geo_idx on organisations (latitude, longitude);
create index organisations_district_idx on organisations (district);
create index organisations_confirmed_idx on organisations (confirmed_at);

create table org_services (
    organisation_id text not null constraint org_services_org_fkey references organisations (id),
    service text not null,
    constraint org_services_pkey primary key (organisation_id, service)
);
create index org_services_service_idx on org_services (service, organisation_id);

create table org_departments (
    organisation_id text not null constraint org_departments_org_fkey references organisations (id),
    department text not null,
    constraint org_departments_pkey primary key (organisation_id, department)
);
create index org_departments_department_idx on org_departments (department, organisation_id);

create table org_capabilities (
    organisation_id text not null constraint org_capabilities_org_fkey references organisations (id),
    capability text not null,
    constraint org_capabilities_pkey primary key (organisation_id, capability)
);
create index org_capabilities_capability_idx on org_capabilities (capability, organisation_id);

-- The weekly hours in which a physician takes care managers' calls (weekday 0 = Monday).
create table consultation_hours (
    id text not null constraint consultation_hours_pkey primary key,
    organisation_id text not null constraint consultation_hours_org_fkey references organisations (id),
    physician text not null default '',
    weekday bigint not null,
    start_minute bigint not null,
    end_minute bigint not null,
    note text not null default '',
    created_at bigint not null,
    constraint consultation_hours_weekday_check check (weekday between 0 and 6),
    constraint consultation_hours_range_check check (start_minute >= 0 and end_minute <= 1440 and start_minute < end_minute)
);
create index consultation_hours_org_idx on consultation_hours (organisation_id, weekday, start_minute);
create index consultation_hours_weekday_idx on consultation_hours (weekday, start_minute, end_minute);

-- Days that differ from the weekly schedule: closed, or open at other hours.
create table consultation_exceptions (
    id text not null constraint consultation_exceptions_pkey primary key,
    organisation_id text not null constraint consultation_exceptions_org_fkey references organisations (id),
    day text not null,
    closed boolean not null,
    start_minute bigint,
    end_minute bigint,
    note text not null default '',
    created_at bigint not null,
    constraint consultation_exceptions_range_check check (
        closed or (start_minute is not null and end_minute is not null and start_minute >= 0
                   and end_minute <= 1440 and start_minute < end_minute))
);
create index consultation_exceptions_org_idx on consultation_exceptions (organisation_id, day);
create index consultation_exceptions_day_idx on consultation_exceptions (day, organisation_id);

-- Free short-stay beds per day (day as YYYY-MM-DD in Asia/Tokyo), each with when it was last
-- confirmed and by whom.
create table vacancies (
    organisation_id text not null constraint vacancies_org_fkey references organisations (id),
    day text not null,
    free_beds bigint not null,
    confirmed_at bigint not null,
    confirmed_by text constraint vacancies_user_fkey references users (id),
    constraint vacancies_pkey primary key (organisation_id, day),
    constraint vacancies_beds_check check (free_beds >= 0 and free_beds <= 999)
);
create index vacancies_day_idx on vacancies (day, free_beds, confirmed_at);

create table vacancy_inquiries (
    id text not null constraint vacancy_inquiries_pkey primary key,
    organisation_id text not null constraint vacancy_inquiries_org_fkey references organisations (id),
    sender_id text not null constraint vacancy_inquiries_sender_fkey references users (id),
    sender_org_id text constraint vacancy_inquiries_sender_org_fkey references organisations (id),
    first_day text not null,
    last_day text not null,
    beds bigint not null,
    note text not null default '',
    status text not null,
    answer_note text not null default '',
    answered_by text constraint vacancy_inquiries_answerer_fkey references users (id),
    answered_at bigint,
    created_at bigint not null,
    constraint vacancy_inquiries_days_check check (first_day <= last_day),
    constraint vacancy_inquiries_beds_check check (beds between 1 and 99)
);
create index vacancy_inquiries_org_idx on vacancy_inquiries (organisation_id, created_at);
create index vacancy_inquiries_sender_idx on vacancy_inquiries (sender_id, created_at);

-- Every change of a directory entry with who and when (changed_by null: the importer).
-- `changes` is JSON: [{"field": …, "old": …, "new": …}].
create table org_changes (
    id text not null constraint org_changes_pkey primary key,
    organisation_id text not null constraint org_changes_org_fkey references organisations (id),
    changed_by text constraint org_changes_user_fkey references users (id),
    changed_at bigint not null,
    source text not null,
    changes text not null
);
create index org_changes_org_idx on org_changes (organisation_id, changed_at);

-- Where a patient lives, for "providers near my patient" (read through the patient gate).
alter table patients add column latitude double precision;
alter table patients add column longitude double precision;
