-- A directory search reads every match's point and text (`search_provider_points`: id, name,
-- kana, address, latitude, longitude) before it reads whole rows for one page. The two indexes a
-- search around a point uses now hold those columns, so that read never leaves the index: at
-- 200,000 providers, the B3 search's points around Kanazawa took 1.3 ms with a table lookup per
-- match and 0.65 ms from the index; a text search in the same box without kinds 21 ms and 5.5 ms
-- (docs/performance.md, eighth increment).
drop index organisations_kind_geo_idx;
create index organisations_kind_geo_idx on organisations (kind, latitude, longitude, search_text, id, name, name_kana, address);
drop index organisations_geo_idx;
create index organisations_geo_idx on organisations (latitude, longitude, search_text, id, name, name_kana, address);
