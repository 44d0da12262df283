-- Each provider carries its codes as one text, " service:… department:… capability:… ", kept by
-- triggers on the three code tables, and the indexes of a search around a point carry it, so a
-- search's code filters are checked in the index entry instead of by a probe of another table
-- per provider (see the SQLite migration of the same name for the figures).
alter table organisations add column codes text not null default ' ';
update organisations set codes = ' '
    || coalesce((select string_agg('service:' || service, ' ') || ' ' from org_services s
                 where s.organisation_id = organisations.id), '')
    || coalesce((select string_agg('department:' || department, ' ') || ' ' from org_departments d
                 where d.organisation_id = organisations.id), '')
    || coalesce((select string_agg('capability:' || capability, ' ') || ' ' from org_capabilities c
                 where c.organisation_id = organisations.id), '');

-- One function for the three tables: its argument names the table's code column, which is also
-- the prefix of its codes.
create function org_codes_keep() returns trigger language plpgsql as $$
declare
    set_name text := TG_ARGV[0];
begin
    if TG_OP in ('DELETE', 'UPDATE') then
        update organisations
            set codes = replace(codes, ' ' || set_name || ':' || (to_jsonb(old) ->> set_name) || ' ', ' ')
            where id = old.organisation_id;
    end if;
    if TG_OP in ('INSERT', 'UPDATE') then
        update organisations
            set codes = codes || set_name || ':' || (to_jsonb(new) ->> set_name) || ' '
            where id = new.organisation_id;
    end if;
    return null;
end $$;
create trigger org_services_codes after insert or update or delete on org_services
for each row execute function org_codes_keep('service');
create trigger org_departments_codes after insert or update or delete on org_departments
for each row execute function org_codes_keep('department');
create trigger org_capabilities_codes after insert or update or delete on org_capabilities
for each row execute function org_codes_keep('capability');

drop index organisations_kind_geo_idx;
create index organisations_kind_geo_idx on organisations (kind, latitude, longitude)
    include (search_text, codes, id, name, name_kana, address);
drop index organisations_geo_idx;
create index organisations_geo_idx on organisations (latitude, longitude)
    include (search_text, codes, id, name, name_kana, address);
