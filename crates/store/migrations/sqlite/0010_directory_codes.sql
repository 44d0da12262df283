-- A directory search filtered by care service, medical department or capability checked each
-- provider that had the text with an index probe of `org_services`, `org_departments` or
-- `org_capabilities`: at 200,000 providers, 331 probes for every B3 search around Kanazawa, the
-- largest part of its CPU (docs/performance.md, ninth increment). Each provider now carries its
-- codes as one text, " service:… department:… capability:… ", kept by the triggers below on every
-- insert, delete and update of the three tables (they stay the record; this is their copy for
-- searching), and the two indexes a search around a point uses carry it, so the filter is a
-- substring check in the index entry already read.
alter table organisations add column codes text not null default ' ';
update organisations set codes = ' '
    || coalesce((select group_concat('service:' || service, ' ') || ' ' from org_services s
                 where s.organisation_id = organisations.id), '')
    || coalesce((select group_concat('department:' || department, ' ') || ' ' from org_departments d
                 where d.organisation_id = organisations.id), '')
    || coalesce((select group_concat('capability:' || capability, ' ') || ' ' from org_capabilities c
                 where c.organisation_id = organisations.id), '');

create trigger org_services_codes_add after insert on org_services
begin update organisations set codes = codes || 'service:' || new.service || ' ' where id = new.organisation_id; end;
create trigger org_services_codes_remove after delete on org_services
begin update organisations set codes = replace(codes, ' service:' || old.service || ' ', ' ') where id = old.organisation_id; end;
create trigger org_services_codes_change after update on org_services
begin
    update organisations set codes = replace(codes, ' service:' || old.service || ' ', ' ') where id = old.organisation_id;
    update organisations set codes = codes || 'service:' || new.service || ' ' where id = new.organisation_id;
end;

create trigger org_departments_codes_add after insert on org_departments
begin update organisations set codes = codes || 'department:' || new.department || ' ' where id = new.organisation_id; end;
create trigger org_departments_codes_remove after delete on org_departments
begin update organisations set codes = replace(codes, ' department:' || old.department || ' ', ' ') where id = old.organisation_id; end;
create trigger org_departments_codes_change after update on org_departments
begin
    update organisations set codes = replace(codes, ' department:' || old.department || ' ', ' ') where id = old.organisation_id;
    update organisations set codes = codes || 'department:' || new.department || ' ' where id = new.organisation_id;
end;

create trigger org_capabilities_codes_add after insert on org_capabilities
begin update organisations set codes = codes || 'capability:' || new.capability || ' ' where id = new.organisation_id; end;
create trigger org_capabilities_codes_remove after delete on org_capabilities
begin update organisations set codes = replace(codes, ' capability:' || old.capability || ' ', ' ') where id = old.organisation_id; end;
create trigger org_capabilities_codes_change after update on org_capabilities
begin
    update organisations set codes = replace(codes, ' capability:' || old.capability || ' ', ' ') where id = old.organisation_id;
    update organisations set codes = codes || 'capability:' || new.capability || ' ' where id = new.organisation_id;
end;

drop index organisations_kind_geo_idx;
create index organisations_kind_geo_idx on organisations (kind, latitude, longitude, search_text, codes, id, name, name_kana, address);
drop index organisations_geo_idx;
create index organisations_geo_idx on organisations (latitude, longitude, search_text, codes, id, name, name_kana, address);
