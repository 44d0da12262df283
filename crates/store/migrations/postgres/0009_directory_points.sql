-- A directory search reads every match's point and text (`search_provider_points`: id, name,
-- kana, address, latitude, longitude) before it reads whole rows for one page. The two indexes a
-- search around a point uses now carry those columns, so that read can be an index-only scan
-- (see the SQLite migration of the same name for the figures).
drop index organisations_kind_geo_idx;
create index organisations_kind_geo_idx on organisations (kind, latitude, longitude)
    include (search_text, id, name, name_kana, address);
drop index organisations_geo_idx;
create index organisations_geo_idx on organisations (latitude, longitude)
    include (search_text, id, name, name_kana, address);
